"""What one client knows between operations: the site, the authenticator, the session.

:class:`ClientState` holds the cached :class:`~qlikauth.credentials.Credentials`, the
client-side inactivity timer, the engine connections the client opened, and how to explain
a session-limit refusal. It does no I/O (the drivers own the transport); the client's
operations read and update it. Its timer reads the ``clock`` it is given (the system's wall
clock by default; a test's manual clock moves time without sleeping).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Protocol

from qlikauth._clock import Clock, wall
from qlikauth.auth.base import Authenticator
from qlikauth.credentials import Credentials, Route
from qlikauth.errors import ConfigurationError, QlikAuthError, SessionLimitError
from qlikauth.http.values import HttpRequest, HttpResponse
from qlikauth.identity import QlikUser
from qlikauth.qps.requests import user_path, user_sessions_request
from qlikauth.site import Site

__all__ = ["ClientState", "EngineHandle", "count_from"]

log = logging.getLogger("qlikauth.client")

_LIMIT_USER_RE = re.compile(r"user '([^'\\]+)\\([^']+)'")


class EngineHandle(Protocol):
    """What the client needs of an engine connection it opened (sync or asyncio)."""

    @property
    def closed(self) -> bool: ...

    def close(self) -> Any: ...


class ClientState:
    """A client's site, authenticator and transport, and the one proxy session it holds."""

    def __init__(
        self,
        site: Site,
        authenticator: Authenticator,
        *,
        logout_on_close: bool | None = None,
        session_timeout: float | None = None,
        leeway: float = 30.0,
        clock: Clock = wall,
    ) -> None:
        self.site = site
        self.clock = clock
        self.authenticator = authenticator
        if site.scheme == "http":
            log.warning(
                "%s is plain http: its session cookie and any credentials cross the network "
                "in clear",
                site.origin,
            )
        self.logout_on_close = (
            authenticator.creates_session if logout_on_close is None else logout_on_close
        )
        self.session_timeout = session_timeout
        self.leeway = leeway
        self.credentials: Credentials | None = None
        self.logins = 0
        self.closed = False
        self._window: float | None = None
        self._deadline: float | None = None
        self._engines: list[EngineHandle] = []
        self._engines_lock = threading.Lock()

    # -- the session ---------------------------------------------------------------------

    def needs_login(self, stale: Credentials | None) -> bool:
        """Whether a login is due: no credentials, ``stale`` ones, or expired ones."""
        if self.closed:
            raise ConfigurationError("this client is closed", hint="Create a new client.")
        if self.credentials is None:
            return True
        if stale is not None and stale is self.credentials:
            return True
        return self._deadline is not None and self.clock() >= self._deadline - self.leeway

    def accept(self, credentials: Credentials) -> None:
        """Keep the credentials a login produced and start their timer."""
        now = self.clock()
        self.credentials = credentials
        self.logins += 1
        made = self.authenticator.login_description()
        log.info("%s %s as %s", made, self.site.origin, credentials.user)
        window = credentials.expires_at - now if credentials.expires_at is not None else None
        if self.session_timeout is not None and credentials.route is Route.PROXY:
            window = self.session_timeout if window is None else min(window, self.session_timeout)
        self._window = window
        self._deadline = now + window if window is not None else None

    def touch(self) -> None:
        """The session was used: the proxy's inactivity timer starts again."""
        credentials = self.credentials
        if (
            self._window is not None
            and credentials is not None
            and credentials.route is Route.PROXY
            and credentials.cookies
        ):
            self._deadline = max(self._deadline or 0.0, self.clock() + self._window)

    # -- engine connections ----------------------------------------------------------------

    def remember_engine(self, connection: EngineHandle) -> None:
        """Keep an engine connection this client opened, to close it with the client."""
        with self._engines_lock:
            self._engines = [c for c in self._engines if not c.closed]
            self._engines.append(connection)

    def engines_open(self) -> bool:
        """Whether an engine socket of this client is open (it keeps the session in use)."""
        return any(not c.closed for c in self._engines)

    def take_engines(self) -> list[EngineHandle]:
        """Every engine connection this client opened, forgotten from now on."""
        with self._engines_lock:
            engines, self._engines = self._engines, []
        return engines

    # -- the session limit -----------------------------------------------------------------

    def user_hint(self) -> QlikUser | None:
        """The user a refused login was for, when the authenticator names one."""
        auth = self.authenticator
        known = getattr(auth, "qlik_user", None)
        if isinstance(known, QlikUser):
            return known
        user, directory = getattr(auth, "user", None), getattr(auth, "directory", None)
        try:
            if isinstance(user, str) and "\\" in user:
                return QlikUser.parse(user)
            if isinstance(user, str) and isinstance(directory, str) and user and directory:
                return QlikUser(directory, user)
        except ConfigurationError:
            return None
        return None

    def session_count_request(self, user: QlikUser) -> HttpRequest | None:
        """``GET /qps/{vp}/user/{dir}/{id}`` on QPS, when the site has a client certificate."""
        if self.site.tls.bundle is None:
            return None
        return user_sessions_request(self.site, user)

    @staticmethod
    def reported(exc: SessionLimitError) -> tuple[QlikUser | None, int | None]:
        """The user and count the proxy's refusal text names, if it names them."""
        user = None
        found = _LIMIT_USER_RE.search(exc.message)
        if found:
            try:
                user = QlikUser(found.group(1), found.group(2))
            except ConfigurationError:
                user = None
        return user, exc.session_count

    def session_limit_error(
        self,
        exc: SessionLimitError,
        user: QlikUser | None,
        count: int | None,
        reported_count: int | None = None,
    ) -> SessionLimitError:
        """The refusal, with how many sessions the user holds and how to free them.

        ``count`` is what QPS lists on this client's virtual proxy; ``reported_count`` what
        the proxy's refusal says, which counts the user's sessions on every virtual proxy
        together, as the limit does. ``session_count`` is the latter when known.
        """
        where = self.site.virtual_proxy_label
        who = str(user) if user is not None else "the user"
        if reported_count is not None:
            counted = (
                f"{who} holds {reported_count} proxy session(s) on all virtual proxies "
                "together, as the proxy counts them toward the limit"
            )
            if count is not None:
                counted += f"; {count} of them on {where} (QPS user API)"
            elif self.site.tls.bundle is None:
                counted += " (QPS could not be asked: that needs the site's client certificate)"
            count = reported_count
        elif count is not None:
            counted = (
                f"{who} holds {count} proxy session(s) on {where} (QPS user API); sessions on "
                "other virtual proxies count toward the limit too"
            )
        elif user is None:
            counted = "the sessions could not be counted (the authenticator does not name the user)"
        else:
            counted = (
                f"the sessions of {who} could not be counted (counting needs the site's client "
                "certificate for QPS on port "
                f"{self.site.qps_port})"
            )
        path = user_path(user) if user is not None else "user/{directory}/{user}"
        return SessionLimitError(
            f"{exc.message}; {counted}",
            session_count=count,
            user=user,
            hint=f"Free them: DELETE {self.site.qps_url(path)} with the client certificate "
            f"ends the user's sessions on {where}; the limit counts the sessions on every "
            "virtual proxy together, so end those on another one the same way under its "
            f"prefix (/qps/PREFIX/{path}), or log out each script's session (QlikClient.close "
            "does), or wait for the inactivity timeout. Share one QlikClient between threads "
            "so a script holds one session.",
        )


def count_from(response: HttpResponse) -> int | None:
    """How many sessions a QPS user API answer lists, if it is one."""
    if not 200 <= response.status < 300:
        return None
    try:
        data = response.json()
    except QlikAuthError:
        return None
    return len(data) if isinstance(data, list) else None
