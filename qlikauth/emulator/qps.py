"""The QPS REST listener (4243 on Qlik): tickets, sessions and users, mutual TLS + Xrfkey."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aiohttp import web

from qlikauth.emulator.common import (
    check_xrfkey,
    control_character,
    json_response,
    read_json,
    text_response,
)
from qlikauth.emulator.config import VirtualProxyConfig
from qlikauth.emulator.core import EmulatorCore
from qlikauth.emulator.state import SessionLimitExceeded

__all__ = ["Qps", "parse_user_body"]

_RESOURCES = ("ticket", "session", "user")


def _field(body: dict[str, Any], name: str) -> Any:
    # Key case is INFERRED to be ignored (clients post camelCase and PascalCase).
    for key, value in body.items():
        if key.lower() == name.lower():
            return value
    return None


def parse_user_body(body: Any) -> tuple[str, str, list[dict[str, str]]] | str:
    """(directory, user id, attributes) from a ticket/session body, or what is wrong (§1.4)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    result: list[str] = []
    for name in ("UserDirectory", "UserId"):
        value = _field(body, name)
        if not isinstance(value, str) or not value.strip():
            return f"{name} is missing, empty or whitespace only"
        if "\\" in value:
            return f"{name} may not contain a backslash"
        if found := control_character(value):
            return f"{name} may not contain the control character {found}"
        result.append(value.strip())
    raw = _field(body, "Attributes") or []
    if not isinstance(raw, list):
        return "Attributes must be an array of single-key objects"
    attributes: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or len(item) != 1:
            return "Attributes must be an array of single-key objects"
        ((key, value),) = item.items()
        key, value = str(key), "" if value is None else str(value)
        if found := control_character(key + value):
            return f"attribute {key.strip()[:40]!r} may not contain the control character {found}"
        attributes.append({key: value})
    return result[0], result[1], attributes


class Qps:
    """Handlers of the QPS REST listener."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def _route(self, path: str) -> tuple[VirtualProxyConfig | None, list[str]]:
        parts = [unquote(p) for p in path.split("/")[2:]]
        if parts and parts[-1] == "":
            parts.pop()
        if len(parts) >= 2 and parts[0] and parts[1] in _RESOURCES:
            vp = self.core.config.virtual_proxy(parts[0])
            if vp is not None:
                return vp, parts[1:]
        if parts and parts[0] in _RESOURCES:
            return self.core.config.virtual_proxy(""), parts
        return None, []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``/qps/[{prefix}/]ticket|session|user...``."""
        refused = check_xrfkey(request)
        if refused is not None:
            return refused
        if not request.path.startswith("/qps/"):
            return text_response(404, "Not found.")
        vp, parts = self._route(request.path)
        if vp is None or not parts:
            return text_response(404, "No such virtual proxy or resource.")
        resource, args = parts[0], parts[1:]
        method = request.method
        if resource == "ticket" and not args and method == "POST":
            return await self._ticket(request, vp)
        if resource == "session":
            if not args and method == "POST":
                return await self._add_session(request, vp)
            if not args and method == "GET":
                return json_response(
                    200, [s.struct() for s in self.core.sessions.on_proxy(vp.prefix)]
                )
            if len(args) == 1 and method in ("GET", "DELETE"):
                return self._one_session(vp, args[0], delete=method == "DELETE")
        if resource == "user" and len(args) == 2 and method in ("GET", "DELETE"):
            return self._user(vp, args[0], args[1], delete=method == "DELETE")
        return text_response(404, "Not found.")

    async def _ticket(self, request: web.Request, vp: VirtualProxyConfig) -> web.Response:
        body, bad = await read_json(request)
        if bad is not None:
            return bad
        parsed = parse_user_body(body)
        if isinstance(parsed, str):
            return text_response(400, f"Invalid ticket request: {parsed}.")
        directory, user_id, attributes = parsed
        ticket = self.core.tickets.issue(vp.prefix, directory, user_id, attributes)
        answer: dict[str, Any] = {
            "UserDirectory": directory,
            "UserId": user_id,
            "Attributes": attributes,
            "Ticket": ticket,
            "TargetUri": None,
        }
        target_id = _field(body, "TargetId")
        if isinstance(target_id, str) and target_id:
            target = self.core.targets.get(target_id)
            if target is not None and target.prefix == vp.prefix:
                answer["TargetUri"] = target.uri
        return json_response(201, answer)

    async def _add_session(self, request: web.Request, vp: VirtualProxyConfig) -> web.Response:
        body, bad = await read_json(request)
        if bad is not None:
            return bad
        parsed = parse_user_body(body)
        if isinstance(parsed, str):
            return text_response(400, f"Invalid session request: {parsed}.")
        directory, user_id, attributes = parsed
        session_id = _field(body, "SessionId")
        if session_id is not None and (not isinstance(session_id, str) or not session_id.strip()):
            return text_response(400, "Invalid session request: SessionId must be a string.")
        sid = session_id.strip() if isinstance(session_id, str) else None
        if sid is not None and self.core.sessions.exists(vp.prefix, sid):
            return text_response(409, "A session with this SessionId exists already.")
        try:
            session = self.core.sessions.create(
                vp.prefix, directory, user_id, attributes, session_id=sid
            )
        except SessionLimitExceeded as exc:
            return text_response(403, exc.text)
        return json_response(201, session.struct())

    def _one_session(self, vp: VirtualProxyConfig, sid: str, *, delete: bool) -> web.Response:
        session = self.core.sessions.get(vp.prefix, sid, touch=False)
        if session is None:
            return text_response(404, "No such session.")
        struct = session.struct()
        if delete:
            self.core.sessions.end(session, "deleted")
            struct["lastSessionForUser"] = not self.core.sessions.of_user(
                vp.prefix, session.user_directory, session.user_id
            )
        return json_response(200, struct)

    def _user(
        self, vp: VirtualProxyConfig, directory: str, user_id: str, *, delete: bool
    ) -> web.Response:
        sessions = self.core.sessions.of_user(vp.prefix, directory, user_id)
        structs = [s.struct() for s in sessions]
        if delete:
            for session in sessions:
                self.core.sessions.end(session, "logout")
        return json_response(200, structs)
