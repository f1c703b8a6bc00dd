"""The direct engine listener (4747 on Qlik): mutual TLS and ``X-Qlik-User``, no proxy."""

from __future__ import annotations

from aiohttp import web

from qlikauth.emulator.common import parse_qlik_user, text_response
from qlikauth.emulator.core import EmulatorCore
from qlikauth.emulator.wsbridge import serve_engine_socket
from qlikauth.emulator.wsproxy import app_route

__all__ = ["EngineDirect"]


class EngineDirect:
    """Handlers of the direct engine listener: ``/app/{appId}`` websockets."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Refuse anything but an upgrade with a well-formed ``X-Qlik-User``."""
        from qlikauth.emulator.qix import EngineConnection, EngineUser

        rest = request.path.lstrip("/")
        if not (rest == "app" or rest.startswith("app/")):
            # Direct connections bypass virtual proxies: a prefix here is a 404 (§9).
            return text_response(404, "Not found.")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return text_response(400, "The engine only accepts websocket upgrades.")
        user = parse_qlik_user(request.headers.get("X-Qlik-User"))
        if user is None:
            # INFERRED (qlik-protocol.md §9): no or malformed X-Qlik-User is refused.
            return text_response(
                403, "Missing or malformed X-Qlik-User header (UserDirectory=...; UserId=...)."
            )
        app_id, identity, ttl = app_route(rest)
        core = self.core
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        engine_user = EngineUser(user[0], user[1])

        def connect() -> EngineConnection:
            return core.engine.connect(
                engine_user, app_id, identity=identity, ttl=ttl, channel="direct"
            )

        return await serve_engine_socket(core, request, ws, None, connect)
