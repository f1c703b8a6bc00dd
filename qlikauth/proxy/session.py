"""The one proxy session every forwarded request and websocket uses, and its renewal.

The proxy asks its :class:`~qlikauth.client.QlikClient` for credentials once, then uses them
until Qlik refuses them. On a refusal it first asks the personal API whether the session
still lives: if it does, the refusal was about the resource (access rules, the host allow
list) and a new login would only churn sessions; if it does not, the client logs in again
(once, however many requests were refused together, as ``QlikClient.relogin`` guarantees).
A refusal of the renewed session goes to the tool as Qlik sent it, with a warning in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time

from qlikauth.client import QlikClient
from qlikauth.credentials import Credentials, Route
from qlikauth.errors import ConfigurationError, QlikAuthError
from qlikauth.http import HttpRequest
from qlikauth.sessions import personal_api_user

__all__ = ["ProxySession"]

log = logging.getLogger("qlikauth.proxy")

#: Seconds between two reports of use to the client (its inactivity timer).
_TOUCH_EVERY = 1.0


class ProxySession:
    """The client's session as the proxy uses it: current credentials, renewal, use."""

    def __init__(self, client: QlikClient) -> None:
        self.client = client
        self.site = client.site
        self._current: Credentials | None = None
        self._touched = 0.0
        #: Times the session was replaced after a refusal (one for many refused together).
        self.renewals = 0

    @property
    def credentials(self) -> Credentials:
        """The credentials requests go out with now."""
        if self._current is None:
            raise RuntimeError("the proxy session is not open")
        return self._current

    @property
    def cookie_names(self) -> frozenset[str]:
        """Names of the session's cookies (never handed to the tool)."""
        names = set(self.credentials.cookies)
        if self.site.cookie_name is not None:
            names.add(self.site.cookie_name)
        return frozenset(names)

    async def open(self) -> Credentials:
        """Log in (or take the client's session); refuse credentials the proxy cannot use."""
        credentials = await asyncio.to_thread(self.client.credentials)
        if credentials.route is not Route.PROXY:
            raise ConfigurationError(
                "the profile's credentials go direct to QRS and the engine (certificate "
                "authentication), not through a virtual proxy",
                hint="The local proxy forwards to the virtual proxy: use an authenticator "
                "that makes a proxy session (session or ticket with the same client "
                "certificate, header, jwt, ...).",
            )
        self._current = credentials
        return credentials

    async def renew(self, stale: Credentials, what: str) -> Credentials | None:
        """After Qlik refused ``stale`` for ``what``: fresh credentials, or ``None`` when
        the session still lives (the refusal is the resource's, not the session's).

        Raises the client's error when the new login fails.
        """
        if await asyncio.to_thread(self._alive, stale):
            log.info("%s was refused, but the session still lives: passing the answer on", what)
            return None
        log.info("%s was refused: the session has ended; logging in again", what)
        fresh = await asyncio.to_thread(self.client.relogin, stale)
        if fresh is not self._current:  # not what another refused request renewed already
            self.renewals += 1
            self._current = fresh
        return fresh

    def _alive(self, credentials: Credentials) -> bool:
        request = HttpRequest("GET", self.site.personal_url("user"), credentials.http_headers())
        try:
            answer = self.client.transport.send(request)
        except QlikAuthError as exc:
            log.info("could not ask the personal API about the session: %s", exc.message)
            return False
        return personal_api_user(answer, include_anonymous=True) is not None

    def used(self) -> None:
        """Qlik accepted the session: its inactivity timer restarted, so the client's does."""
        now = time.monotonic()
        if now - self._touched >= _TOUCH_EVERY:
            self._touched = now
            self.client.touch()
