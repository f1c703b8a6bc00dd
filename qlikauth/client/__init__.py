"""QlikClient and AsyncQlikClient: one site, one authenticator, one proxy session for everything.

The client logs in lazily and once (however many threads or tasks ask at the same time),
caches the :class:`~qlikauth.credentials.Credentials`, and hands the same ones to REST calls,
the engine connector and the tempcontent downloader. When the session ends (client-side
timer, or the server answers with a login redirect, a 401, a CSRF/websocket 403,
``mustAuthenticate`` or a session-expired notice) it logs in again once; a second failure
raises the specific error.

Every operation is written once, as a generator of steps without I/O
(:mod:`~qlikauth.client.ops`, :mod:`~qlikauth.client.steps`); :class:`QlikClient` performs
the steps on the calling thread, :class:`AsyncQlikClient` awaits them, and
:mod:`~qlikauth.client.api` describes the public methods once for both.
:class:`RequestsAuth` lends the session to any ``requests`` code.
"""

from __future__ import annotations

from qlikauth.client.aio import AsyncQlikClient
from qlikauth.client.requests_auth import RequestsAuth
from qlikauth.client.sync import QlikClient

__all__ = ["AsyncQlikClient", "QlikClient", "RequestsAuth"]
