"""The state every listener of one emulator shares, and the proxy's login decisions."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from qlikauth._clock import Clock, monotonic
from qlikauth.emulator.config import EmulatorConfig, VirtualProxyConfig
from qlikauth.emulator.jwtcheck import JwtValidator
from qlikauth.emulator.ntlm import NtlmAcceptors
from qlikauth.emulator.release import ReleaseFacts, release_facts
from qlikauth.emulator.state import (
    Counters,
    Faults,
    Session,
    SessionStore,
    TargetStore,
    TicketStore,
)
from qlikauth.pki import TestPki

if TYPE_CHECKING:
    from qlikauth.emulator.qix import Engine

__all__ = ["EmulatorCore", "OpenSocket", "Urls", "add_query", "listener"]

_END_NOTIFICATIONS = {
    "timeout": ("OnSessionTimedOut", "The session has timed out due to inactivity."),
    "logout": ("OnSessionLoggedOut", "The user has logged out."),
    "deleted": ("OnSessionClosed", "The proxy session was closed."),
}


class OpenSocket(Protocol):
    """An open client websocket, as the core ends it (``wsbridge.OpenSocket``)."""

    async def notify_and_close(self, method: str, message: str) -> None:
        """Push a proxy notification, then close."""

    def drop(self) -> None:
        """Cut the connection without a close frame."""

    async def going_away(self) -> None:
        """Close with 1001 (the emulator stops)."""


def add_query(url: str, **params: str) -> str:
    """``url`` with extra query parameters appended (existing ones kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def listener(name: str, secure: bool) -> str:
    """The listener that serves ``name`` (``proxy``, ``auth``) over https, or over http."""
    return name if secure else f"{name}_http"


@dataclass
class Urls:
    """Where each listener answers, once bound."""

    host: str
    ports: dict[str, int] = field(default_factory=dict)

    def base(self, name: str, scheme: str | None = None) -> str:
        """``scheme://host:port`` of one listener (``http`` for the ``*_http`` ones)."""
        scheme = scheme or ("http" if name.endswith("_http") else "https")
        return f"{scheme}://{self.host}:{self.ports[name]}"

    def proxy(self, prefix: str, path: str = "", *, secure: bool = True) -> str:
        """An absolute proxy URL under a virtual proxy prefix (over http if not ``secure``)."""
        head = f"/{prefix}" if prefix else ""
        return f"{self.base(listener('proxy', secure))}{head}/{path.lstrip('/')}"


class EmulatorCore:
    """Stores, engine, PKI and URLs of one emulator, shared by its listeners."""

    def __init__(
        self,
        config: EmulatorConfig,
        state_dir: Path,
        pki: TestPki,
        jwt_keypair: tuple[Path, Path],
        engine: Engine,
        *,
        clock: Clock = monotonic,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.pki = pki
        self.jwt_key, self.jwt_cert = jwt_keypair
        self.engine = engine
        self.release: ReleaseFacts = release_facts(config.release)
        self.urls = Urls(config.host)
        self.admin_token = secrets.token_urlsafe(24)
        self.faults = Faults()
        self.counters = Counters()
        self.sessions = SessionStore(
            self.timeout_of,
            config.max_parallel_sessions,
            refuse_at_login=config.session_limit == "login",
            clock=clock,
        )
        self.sessions.on_end = self._session_ended
        self.tickets = TicketStore(config.ticket_ttl, clock=clock)
        self.targets = TargetStore(clock=clock)
        self.jwt = {
            vp.prefix: JwtValidator(
                self.jwt_cert, vp.jwt_claims, vp.jwt_attribute_mapping, config.jwt_leeway
            )
            for vp in config.virtual_proxies
            if vp.method == "jwt"
        }
        self.ntlm = NtlmAcceptors(
            state_dir / "ntlm_users", config.windows.domain, config.windows.users, config.host
        )
        self.form_tokens: dict[str, str] = {}
        # Engine calls may be slow (large exports): keep them off the event loop.
        self.engine_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="qlikemu-qix")
        self.sockets: dict[tuple[str, str], set[OpenSocket]] = {}
        self.all_sockets: set[OpenSocket] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        # The loop keeps only weak references to tasks: hold them until they finish.
        self._tasks: set[asyncio.Task[None]] = set()

    # -- configuration look-ups ---------------------------------------------------------

    def timeout_of(self, prefix: str) -> float:
        """Inactivity timeout (seconds) of a virtual proxy."""
        vp = self.config.virtual_proxy(prefix)
        return vp.session_timeout if vp else 1800.0

    def split_proxy_path(self, path: str) -> tuple[VirtualProxyConfig | None, str]:
        """(virtual proxy, rest of the path) for a proxy path such as ``/hdr/hub/``."""
        first, _, rest = path.lstrip("/").partition("/")
        if first:
            vp = self.config.virtual_proxy(first)
            if vp is not None and vp.prefix:
                return vp, rest
        return self.config.virtual_proxy(""), path.lstrip("/")

    def windows_user(self, domain: str, name: str) -> str | None:
        """The configured spelling of a Windows user, if this domain knows the name."""
        if domain.upper() != self.config.windows.domain.upper():
            return None
        for user in self.config.windows.users:
            if user.name.lower() == name.lower():
                return user.name
        return None

    def check_windows_password(self, domain: str, name: str, password: str) -> str | None:
        """The user's name when the password is right (constant-time compare)."""
        known = self.windows_user(domain, name)
        if known is None:
            return None
        for user in self.config.windows.users:
            if user.name == known and secrets.compare_digest(
                user.password.encode("utf-8"), password.encode("utf-8")
            ):
                return known
        return None

    # -- login redirects -----------------------------------------------------------------

    def login_redirect(
        self, vp: VirtualProxyConfig, original_uri: str, *, secure: bool = True
    ) -> str | None:
        """Where an unauthenticated GET goes (§2.3); None when the method has no login page.

        A request over plain http is sent to the module's http listener (4248 on Qlik).
        """
        module = self.urls.base(listener("auth", secure))
        if vp.method == "windows":
            target_id = self.targets.remember(vp.prefix, original_uri)
            return add_query(f"{module}/internal_windows_authentication/", targetId=target_id)
        if vp.method == "ticket":
            target_id = self.targets.remember(vp.prefix, original_uri)
            head = f"{vp.prefix}/" if vp.prefix else ""
            return add_query(
                vp.auth_module_uri or f"{module}/no_authentication_module/",
                targetId=target_id,
                proxyRestUri=f"{self.urls.base('qps')}/qps/{head}",
            )
        return None

    def login_uri(self, vp: VirtualProxyConfig, target_uri: str, *, secure: bool = True) -> str:
        """The ``loginUri`` for the Personal API and ``OnAuthenticationInformation``."""
        if vp.method == "ticket" and vp.auth_module_uri:
            return add_query(vp.auth_module_uri, targetUri=target_uri)
        module = self.urls.base(listener("auth", secure))
        return add_query(f"{module}/internal_windows_authentication/", targetUri=target_uri)

    def ticket_return(
        self, prefix: str, target_id: str | None, ticket: str, *, secure: bool = True
    ) -> str:
        """Back through the proxy with a fresh ticket, to the remembered target or the hub
        (on the scheme the login came in on)."""
        target = self.targets.get(target_id) if target_id else None
        if target and target.prefix == prefix:
            return add_query(target.uri, qlikTicket=ticket)
        return add_query(self.urls.proxy(prefix, "hub/", secure=secure), qlikTicket=ticket)

    def origin_hosts(self, vp: VirtualProxyConfig) -> set[str]:
        """Host names a websocket Origin (and csrftoken's Host) may name: the virtual
        proxy's host allow list, exactly as configured (§2.1, [S38])."""
        return {host.lower() for host in self.config.allow_list(vp)}

    def target_hosts(self, vp: VirtualProxyConfig) -> set[str]:
        """Host names a ``targetUri`` may name: the proxy's own, or the allow list's (§1.6)."""
        return {self.config.host.lower()} | self.origin_hosts(vp)

    # -- sockets and session ends -----------------------------------------------------

    def register_socket(self, session: Session | None, sock: OpenSocket) -> None:
        """Track an open socket (per session, so that a session end can close it)."""
        self.all_sockets.add(sock)
        self.counters.websocket_connections += 1
        self.counters.websockets_open += 1
        if session is not None:
            self.sockets.setdefault((session.prefix, session.session_id), set()).add(sock)

    def unregister_socket(self, session: Session | None, sock: OpenSocket) -> None:
        """Forget a closed socket."""
        if sock in self.all_sockets:
            self.all_sockets.discard(sock)
            self.counters.websockets_open -= 1
        if session is not None:
            key = (session.prefix, session.session_id)
            group = self.sockets.get(key)
            if group is not None:
                group.discard(sock)
                if not group:
                    del self.sockets[key]

    def _session_ended(self, session: Session, reason: str) -> None:
        method, message = _END_NOTIFICATIONS.get(reason, _END_NOTIFICATIONS["deleted"])
        for sock in self.sockets.pop((session.prefix, session.session_id), set()):
            if self.loop is not None:
                task = self.loop.create_task(sock.notify_and_close(method, message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def drop_all_sockets(self) -> int:
        """Cut every open websocket (fault injection); how many were cut."""
        socks = list(self.all_sockets)
        for sock in socks:
            sock.drop()
        return len(socks)

    # -- counters ---------------------------------------------------------------------

    def counter_snapshot(self) -> dict[str, Any]:
        """Everything ``GET /_emulator/counters`` reports."""
        self.sessions.expire()
        engine_counters: Mapping[str, int] = getattr(self.engine, "counters", {})
        return {
            "sessions_created": self.sessions.created,
            "sessions_active": len(self.sessions),
            "tickets_issued": self.tickets.issued,
            "tickets_consumed": self.tickets.consumed,
            "websocket_connections": self.counters.websocket_connections,
            "websockets_open": self.counters.websockets_open,
            "downloads": self.counters.downloads,
            "faults_injected": self.counters.faults_injected,
            "engine": dict(engine_counters),
        }

    def reset(self) -> None:
        """Forget sessions, tickets, targets, faults and counters."""
        self.sessions.clear()
        self.tickets.clear()
        self.targets.clear()
        self.form_tokens.clear()
        self.faults.reset()
        self.counters.reset()

    def new_form_token(self, target_id: str) -> str:
        """A one-time hidden ``__token`` for a forms login page."""
        token = secrets.token_urlsafe(18)
        if len(self.form_tokens) > 10_000:
            self.form_tokens.clear()
        self.form_tokens[token] = target_id
        return token
