"""An engine connection's public face, described once for both drivers.

:class:`ConnectionApi` is what :class:`~qlikauth.engine.sync.EngineConnection` (threads) and
:class:`~qlikauth.engine.aio.AsyncEngineConnection` (asyncio) show their users: the ``open``
and ``connect`` constructors, the session's state, listeners, and the calls written once as
steps (``call``, ``open_doc``, ``get_active_doc``). What the socket's bytes do is
:class:`~qlikauth.engine.session.EngineSession`'s job; the drivers own the socket.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qlikauth._twins import constructor, operation, operation_returning
from qlikauth.engine._transport import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_OPEN_TIMEOUT,
    ConnectOptions,
    options_for,
)
from qlikauth.engine.flows import Steps, call_steps
from qlikauth.engine.messages import (
    GLOBAL_INTERFACE,
    HandleEventKind,
    HandleState,
    JsonObject,
    Listener,
    Params,
    SessionState,
)
from qlikauth.engine.objects import AsyncDoc, Doc, GlobalApi
from qlikauth.engine.session import EngineSession, NotificationListener
from qlikauth.errors import (
    ConfigurationError,
    EngineSessionError,
    EngineTimeoutError,
    QlikAuthError,
)

if TYPE_CHECKING:
    from qlikauth.credentials import Credentials
    from qlikauth.site import Site

__all__ = ["DEFAULT_CALL_TIMEOUT", "ConnectionApi", "NotificationListener", "Opening"]

#: Seconds an engine call waits for its answer unless told otherwise: above what opening a
#: large app or computing a big page takes, so that only a server that stopped answering
#: hits it. A reload can take longer: give that call its own ``timeout=``. ``None`` (only
#: when asked for) waits until the socket closes.
DEFAULT_CALL_TIMEOUT = 300.0


@dataclass(frozen=True)
class Opening:
    """What to open (the upgrade), and what to check once open."""

    options: ConnectOptions
    app_id: str | None = None
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT
    require_attached: bool = False
    started: float = field(default_factory=time.monotonic)

    def time_left(self) -> float | None:
        """What the open timeout leaves (at least 0.1 s); ``None``: no limit."""
        if self.options.open_timeout is None:
            return None
        return max(0.1, self.options.open_timeout - (time.monotonic() - self.started))


class ConnectionApi(EngineSession):
    """One engine websocket (one engine session), on either driver."""

    def __init__(self, opening: Opening, global_class: Callable[[Any, Any], Any]) -> None:
        super().__init__(opening.options)
        self._opening = opening
        self.url = opening.options.safe_url
        self.app_id = opening.app_id
        self.call_timeout = opening.call_timeout
        self.global_ = global_class(self, GLOBAL_INTERFACE)

    # -- opening ------------------------------------------------------------------------------

    @constructor
    def open(
        cls,
        site: Site,
        credentials: Credentials,
        app_id: str | None = None,
        *,
        identity: str | None = None,
        ttl: int | None = None,
        timeout: float | None = DEFAULT_OPEN_TIMEOUT,
        call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
        require_attached: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> Opening:
        """Connect with ``credentials`` (proxy or direct), read the greeting, return.

        ``identity`` names an engine session to attach to (with ``ttl``, how long the engine
        keeps it after a disconnect); check :attr:`session_state` for ``SESSION_ATTACHED``, or
        pass ``require_attached=True`` to fail unless the session was resumed.
        """
        options = options_for(
            site,
            credentials,
            app_id,
            identity=identity,
            ttl=ttl,
            timeout=timeout,
            max_message_size=max_message_size,
        )
        return Opening(options, app_id, call_timeout, require_attached)

    @constructor
    def connect(
        cls,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        origin: str | None = None,
        app_id: str | None = None,
        timeout: float | None = DEFAULT_OPEN_TIMEOUT,
        call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
        require_attached: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> Opening:
        """Connect to an engine websocket URL with explicit TLS, headers and Origin."""
        options = ConnectOptions(
            url=url,
            ssl=ssl_context,
            headers=dict(headers or {}),
            origin=origin,
            open_timeout=timeout,
            max_message_size=max_message_size,
        )
        return Opening(options, app_id, call_timeout, require_attached)

    def _ssl_context(self) -> ssl.SSLContext | None:
        """The TLS to dial with: the options', a default one for ``wss://``, none for ``ws://``."""
        context = self._opening.options.ssl
        if not self._wire.secure:
            if context is not None:
                raise ConfigurationError(
                    f"a TLS context was given for {self.url}, which is not a wss:// URL"
                )
            return None
        return context or ssl.create_default_context()

    def _no_greeting(self, timeout: float | None) -> EngineTimeoutError:
        return EngineTimeoutError(
            f"the engine sent no greeting within {timeout or 0:g} s",
            hint="the server accepted the websocket but did not answer; check the engine",
            url=self.url,
        )

    def _check_attached(self) -> None:
        if self._opening.require_attached and self.session_state is not SessionState.ATTACHED:
            raise EngineSessionError(
                f"the engine session was not resumed (state: "
                f"{self.session_state_text or 'unknown'})",
                code=-12,
                parameter=self.session_state_text or "",
                hint="the session expired (its ttl passed) or the identity is not the same",
            )

    # -- state --------------------------------------------------------------------------------

    @property
    def session_state(self) -> SessionState | None:
        """``qSessionState`` of the greeting: ``SESSION_CREATED`` or ``SESSION_ATTACHED``."""
        return self._protocol.session_state

    @property
    def session_state_text(self) -> str | None:
        """The raw ``qSessionState`` text."""
        return self._protocol.session_state_text

    @property
    def authentication(self) -> JsonObject | None:
        """``OnAuthenticationInformation`` from the proxy (user id and directory), if sent."""
        return self._protocol.authentication

    @property
    def engine_version(self) -> str | None:
        """The engine's version, read during the greeting."""
        return self._protocol.engine_version

    @property
    def closed(self) -> bool:
        """True once the socket is closed; calls then raise :class:`EngineClosedError`."""
        return self._protocol.closed

    @property
    def close_reason(self) -> QlikAuthError | None:
        """Why the server ended the session (timeout, logout, ...), once it said so."""
        return self._protocol.fatal_error

    def handle_state(self, handle: int) -> HandleState | None:
        """Open, suspended or closed, per the engine's lists."""
        with self._guard:
            return self._protocol.handle_state(handle)

    # -- calls --------------------------------------------------------------------------------

    @operation
    def call(
        self,
        handle: int,
        method: str,
        params: Params | None = None,
        *,
        timeout: float | None = None,
    ) -> Steps[JsonObject]:
        """Call ``method`` on ``handle`` and wait (``timeout`` or :attr:`call_timeout`)."""
        return call_steps(handle, method, params, timeout)

    @operation_returning(Doc, AsyncDoc)
    def open_doc(
        self, app_id: str | None = None, *, no_data: bool = False, timeout: float | None = None
    ) -> Steps[Any]:
        """Open ``app_id`` (default: the app of the websocket URL)."""
        app = app_id or self.app_id
        if not app:
            raise ConfigurationError(
                "open_doc needs an app id (none was given, and the connection was opened "
                "without one)"
            )
        return (
            yield from GlobalApi.open_doc.build(self.global_, app, no_data=no_data, timeout=timeout)
        )

    @operation_returning(Doc, AsyncDoc)
    def get_active_doc(self, *, timeout: float | None = None) -> Steps[Any]:
        """The app already open in this engine session (after attaching to it)."""
        return GlobalApi.get_active_doc.build(self.global_, timeout=timeout)

    # -- listeners ----------------------------------------------------------------------------

    def on_notification(self, method: str, callback: NotificationListener) -> Callable[[], None]:
        """Call ``callback(method, params)`` for notification ``method`` (``"*"``: all).

        On the sync connection listeners run on the reader thread: keep them short, and do
        not wait for engine calls in them. On the asyncio one a coroutine function runs as a
        task. Returns a function that removes the listener.
        """
        return self._listen(self._notification_listeners, method, callback)

    def add_handle_listener(
        self, handle: int, kind: HandleEventKind, callback: Listener
    ) -> Callable[[], None]:
        """Call ``callback()`` when ``handle`` is changed, closed or suspended."""
        return self._listen(self._handle_listeners, (handle, kind), callback)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.url} {state} session={self.session_state_text}>"
