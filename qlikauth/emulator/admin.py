"""``/_emulator/``: counters, fault injection and reset (loopback only, bearer token).

Not part of Qlik: a door for tests and reliability work. The token is in the info file.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from aiohttp import web

from qlikauth.emulator.common import json_response, read_json, text_response
from qlikauth.emulator.core import EmulatorCore

__all__ = ["add_admin_routes"]


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _authorized(core: EmulatorCore, request: web.Request) -> web.Response | None:
    if not _loopback(request):
        return text_response(403, "The emulator API answers loopback clients only.")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), core.admin_token.encode()
    ):
        return text_response(401, "The emulator API needs Authorization: Bearer <admin_token>.")
    return None


def _apply_faults(core: EmulatorCore, body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    faults = core.faults
    for key, value in body.items():
        if key == "latency_ms":
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                return "latency_ms must be a non-negative number"
        elif key == "error_rate":
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
                return "error_rate must be a number from 0 to 1"
        elif key in ("drop_websockets", "truncate_downloads"):
            if not isinstance(value, bool):
                return f"{key} must be true or false"
        else:
            return f"unknown fault {key!r}"
    for key, value in body.items():
        setattr(faults, key, float(value) if key in ("latency_ms", "error_rate") else value)
    if faults.drop_websockets:
        core.drop_all_sockets()
    return None


def add_admin_routes(app: web.Application, core: EmulatorCore) -> None:
    """Add the ``/_emulator/`` routes to the proxy application."""

    async def counters(request: web.Request) -> web.Response:
        return _authorized(core, request) or json_response(200, core.counter_snapshot())

    async def get_faults(request: web.Request) -> web.Response:
        return _authorized(core, request) or json_response(200, core.faults.as_dict())

    async def post_faults(request: web.Request) -> web.Response:
        refused = _authorized(core, request)
        if refused is not None:
            return refused
        body, bad = await read_json(request)
        if bad is not None:
            return bad
        problem = _apply_faults(core, body)
        if problem is not None:
            return text_response(400, f"Invalid faults: {problem}.")
        return json_response(200, core.faults.as_dict())

    async def reset(request: web.Request) -> web.Response:
        refused = _authorized(core, request)
        if refused is not None:
            return refused
        core.reset()
        return json_response(200, core.counter_snapshot())

    app.router.add_get("/_emulator/counters", counters)
    app.router.add_get("/_emulator/faults", get_faults)
    app.router.add_post("/_emulator/faults", post_faults)
    app.router.add_post("/_emulator/reset", reset)
