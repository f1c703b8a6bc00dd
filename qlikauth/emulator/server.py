"""Start and stop every listener of one emulator; write the info file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from qlikauth._clock import Clock, monotonic
from qlikauth._files import atomic_write
from qlikauth.emulator.admin import add_admin_routes
from qlikauth.emulator.authmodule import AuthModule
from qlikauth.emulator.common import fault_middleware
from qlikauth.emulator.config import EmulatorConfig, check_config
from qlikauth.emulator.configfile import load_config
from qlikauth.emulator.core import EmulatorCore
from qlikauth.emulator.engine_direct import EngineDirect
from qlikauth.emulator.proxy import Proxy
from qlikauth.emulator.qps import Qps
from qlikauth.emulator.qrs import Qrs
from qlikauth.emulator.tls import ensure_jwt_keypair, ensure_pki, server_context

__all__ = ["Emulator"]

log = logging.getLogger("qlikauth.emulator")

_SWEEP_SECONDS = 0.2


class Emulator:
    """One emulated Qlik Sense server: proxy, QPS, QRS, engine and authentication module.

    Use it as a context manager (it runs its own event loop in a thread)::

        with Emulator(config, state_dir) as emu:
            emu.info["proxy_url"]

    or call :meth:`serve_forever` from a command line (stops on SIGINT/SIGTERM).
    ``clock`` tells the session, ticket and engine stores the time (monotonic seconds by
    default); a test gives a manual one to pass timeouts without sleeping.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        state_dir: Path | str | None = None,
        *,
        info_file: Path | str | None = None,
        clock: Clock = monotonic,
    ) -> None:
        self.config = check_config(config) if config is not None else load_config(None)
        self.clock = clock
        self._own_state = state_dir is None
        # Absolute, so that the info file's paths hold from any folder.
        folder = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="qlikemu-"))
        self.state_dir = folder.absolute()
        self.info_file = (Path(info_file) if info_file else folder / "emulator.json").absolute()
        self.info: dict[str, Any] = {}
        self.core: EmulatorCore | None = None
        self._runners: list[web.AppRunner] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"Emulator(state_dir={str(self.state_dir)!r}, running={bool(self.info)})"

    # -- building -------------------------------------------------------------------------

    def _build_core(self) -> EmulatorCore:
        from qlikauth.emulator.qix import Engine, default_apps, large_app
        from qlikauth.emulator.release import release_facts

        config = self.config
        release = release_facts(config.release)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        pki = ensure_pki(self.state_dir, config.server_certificate_names())
        jwt_keypair = ensure_jwt_keypair(self.state_dir)
        apps = list(default_apps())
        if config.large_app_rows > 0:
            apps.append(large_app(config.large_app_rows))
        engine = Engine(
            apps,
            self.state_dir / "tempcontent",
            server_node_id=str(uuid.uuid4()),
            csv_cell_limit=config.csv_cell_limit,
            engine_version=release.engine_version,
            product_version=release.product_version,
            clock=self.clock,
        )
        return EmulatorCore(config, self.state_dir, pki, jwt_keypair, engine, clock=self.clock)

    def _apps(
        self, core: EmulatorCore
    ) -> dict[str, tuple[web.Application, ssl.SSLContext | None, int]]:
        config = core.config
        plain = server_context(core.pki, require_client_cert=False)
        mutual = server_context(core.pki, require_client_cert=True)
        middleware = fault_middleware(core.faults, core.counters)
        proxy, auth = Proxy(core).handle, AuthModule(core).handle
        handlers: dict[str, tuple[Any, ssl.SSLContext | None, int]] = {
            "proxy": (proxy, plain, config.proxy_port),
            "qps": (Qps(core).handle, mutual, config.qps_port),
            "qrs": (Qrs(core).handle, mutual, config.qrs_port),
            "engine": (EngineDirect(core).handle, mutual, config.engine_port),
            "auth": (auth, plain, config.auth_port),
        }
        if config.allow_http:
            handlers["proxy_http"] = (proxy, None, config.proxy_http_port)
            handlers["auth_http"] = (auth, None, config.auth_http_port)
        result: dict[str, tuple[web.Application, ssl.SSLContext | None, int]] = {}
        for name, (handler, context, port) in handlers.items():
            app = web.Application(middlewares=[middleware], client_max_size=16 * 1024 * 1024)
            if name == "proxy":
                add_admin_routes(app, core)
            app.router.add_route("*", "/{tail:.*}", handler)
            result[name] = (app, context, port)
        return result

    async def _start(self) -> None:
        core = self._build_core()
        core.loop = asyncio.get_running_loop()
        self.core = core
        for name, (app, context, port) in self._apps(core).items():
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            self._runners.append(runner)
            site = web.TCPSite(runner, core.config.bind, port, ssl_context=context)
            await site.start()
            core.urls.ports[name] = int(runner.addresses[0][1])
        self._sweeper = asyncio.create_task(self._sweep())
        self.info = self._make_info(core)
        atomic_write(
            self.info_file, (json.dumps(self.info, indent=2, sort_keys=True) + "\n").encode()
        )

    async def _sweep(self) -> None:
        assert self.core is not None
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            self.core.sessions.expire()

    async def _shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        core = self.core
        if core is not None:
            for sock in list(core.all_sockets):
                await sock.going_away()
        transports = [
            handler.transport
            for runner in self._runners
            if runner.server is not None
            for handler in runner.server.connections
        ]
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        # A graceful TLS close waits for the peer's close_notify; a client that keeps its
        # connection open would leave the transport half-closed when the loop ends.
        for transport in transports:
            if transport is not None:
                transport.abort()
        for _ in range(3):
            await asyncio.sleep(0.01)
        if core is not None:
            core.engine_executor.submit(core.engine.close).result()
            core.engine_executor.shutdown(wait=True)

    def _make_info(self, core: EmulatorCore) -> dict[str, Any]:
        config = core.config
        urls = core.urls
        vps: list[dict[str, Any]] = []
        for vp in config.virtual_proxies:
            entry: dict[str, Any] = {
                "prefix": vp.prefix,
                "method": vp.method,
                "cookie_name": vp.cookie_name,
                "session_timeout": vp.session_timeout,
                "anonymous": vp.anonymous,
                "allow_list": list(config.allow_list(vp)),
                "url": urls.proxy(vp.prefix),
            }
            if vp.method in ("header", "header_dynamic"):
                entry["header_name"] = vp.header_name
                if vp.method == "header":
                    entry["user_directory"] = vp.user_directory
                else:
                    entry["header_pattern"] = vp.header_pattern
            if vp.method == "jwt":
                entry["jwt_private_key"] = str(core.jwt_key)
                entry["jwt_certificate"] = str(core.jwt_cert)
                entry["jwt_claims"] = {
                    "user": vp.jwt_claims.user,
                    "directory": vp.jwt_claims.directory,
                }
                entry["jwt_attribute_mapping"] = [
                    {"claim": row.claim, "attribute": row.attribute, "mandatory": row.mandatory}
                    for row in vp.jwt_attribute_mapping
                ]
            if vp.method == "ticket":
                entry["auth_module_uri"] = (
                    vp.auth_module_uri or f"{urls.base('auth')}/no_authentication_module/"
                )
            if vp.method == "windows":
                entry["windows_pattern"] = vp.windows_pattern
            vps.append(entry)
        http: dict[str, str] = {}
        if config.allow_http:
            http = {f"{name}_http_url": urls.base(f"{name}_http") for name in ("proxy", "auth")}
        return {
            **http,
            "host": config.host,
            "bind": config.bind,
            "pid": os.getpid(),
            "ports": dict(urls.ports),
            "proxy_url": urls.base("proxy"),
            "qps_url": urls.base("qps"),
            "qrs_url": urls.base("qrs"),
            "engine_url": urls.base("engine", "wss"),
            "auth_url": urls.base("auth"),
            "allow_http": config.allow_http,
            "admin_url": f"{urls.base('proxy')}/_emulator/",
            "admin_token": core.admin_token,
            "state_dir": str(self.state_dir),
            "info_file": str(self.info_file),
            "certs_dir": str(core.pki.directory),
            "certificate_names": list(config.server_certificate_names()),
            "pfx_password": core.pki.pfx_password,
            "release": config.release,
            "ticket_ttl": config.ticket_ttl,
            "max_parallel_sessions": config.max_parallel_sessions,
            "session_limit": config.session_limit,
            "virtual_proxies": vps,
            "users": [
                {
                    "directory": u.directory,
                    "id": u.user_id,
                    "name": u.name,
                    "groups": list(u.groups),
                }
                for u in config.users
            ],
            "windows": {
                "domain": config.windows.domain,
                "users": [{"name": u.name, "password": u.password} for u in config.windows.users],
            },
            "apps": [{"id": app_id, "name": app.name} for app_id, app in core.engine.apps.items()],
        }

    # -- running --------------------------------------------------------------------------

    async def _main(self) -> None:
        if self._stop is None:
            self._stop = asyncio.Event()
        try:
            await self._start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await self._shutdown()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()

    def start(self) -> Emulator:
        """Start in a background thread; return once every listener serves."""
        if self._thread is not None:
            raise RuntimeError("this emulator is already running")
        self._ready.clear()
        self._error = None

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="qlikauth-emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        error = self._failure()
        if error is not None:
            self._thread.join()
            self._thread = None
            raise error
        return self

    def _failure(self) -> BaseException | None:
        # A method, not an attribute read: mypy would take the error as still None here.
        return self._error

    def stop(self) -> None:
        """Stop every listener and wait for the thread to end."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        self._thread = None
        self._stop = None
        self.info_file.unlink(missing_ok=True)
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self, on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Run in this thread until SIGINT or SIGTERM, then shut down cleanly.

        ``on_ready`` is called with the info once every listener serves.
        """

        async def main() -> None:
            loop = asyncio.get_running_loop()
            self._loop = loop
            # Handlers first: a signal during start-up still ends in a clean shutdown.
            stop = self._stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            task = asyncio.create_task(self._main())
            while not self._ready.is_set() and not task.done():
                await asyncio.sleep(0.01)
            if self._error is not None:
                await task
                raise self._error
            if on_ready is not None:
                on_ready(self.info)
            await task

        try:
            asyncio.run(main())
        finally:
            self._stop = None
            self.info_file.unlink(missing_ok=True)
