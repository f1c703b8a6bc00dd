"""A minimal QRS (4242 on Qlik): enough for tools that probe the repository.

The proxy forwards ``/{prefix}/qrs/...`` here as its session's user; both ways need an
Xrfkey, and ``/qrs/about`` answers the About body of the emulated release.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from qlikauth.emulator.common import check_xrfkey, json_response, parse_qlik_user, text_response
from qlikauth.emulator.core import EmulatorCore

__all__ = ["Qrs"]

#: Qlik's answer to a malformed X-Qlik-User (qlik-protocol.md §9).
BAD_USER = (
    "Unknown users not allowed for repository calls, missing or malformed http header: X-Qlik-User"
)


class Qrs:
    """Handlers of the QRS listener: ``/qrs/about``, ``/qrs/app``, ``/qrs/user``."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def _apps(self) -> list[dict[str, Any]]:
        return [
            {
                "id": app_id,
                "name": app.name,
                "published": True,
                "stream": {"id": "aaec8d41-5201-43ab-809f-3063750dfafd", "name": "Everyone"},
            }
            for app_id, app in self.core.engine.apps.items()
        ]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Xrfkey first, then X-Qlik-User (absent means the certificate's admin rights)."""
        refused = check_xrfkey(request)
        if refused is not None:
            return refused
        header = request.headers.get("X-Qlik-User")
        if header is not None and parse_qlik_user(header) is None:
            return text_response(403, BAD_USER)
        return self.answer(request.method, request.path)

    def answer(self, method: str, path: str) -> web.Response:
        """One repository call, once its Xrfkey and user were checked (``path``: /qrs/...)."""
        path = path.rstrip("/")
        if method != "GET":
            return text_response(405, "The emulator's QRS is read-only.")
        if path == "/qrs/about":
            return json_response(200, self.core.release.about())
        if path in ("/qrs/app", "/qrs/app/full"):
            return json_response(200, self._apps())
        if path.startswith("/qrs/app/"):
            wanted = path.removeprefix("/qrs/app/")
            for app in self._apps():
                if app["id"] == wanted:
                    return json_response(200, app)
            return text_response(404, "Not found.")
        if path in ("/qrs/user", "/qrs/user/full"):
            return json_response(
                200,
                [
                    {"userDirectory": u.directory, "userId": u.user_id, "name": u.name}
                    for u in self.core.config.users
                ],
            )
        return text_response(404, "Not found.")
