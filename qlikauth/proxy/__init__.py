"""``qlikauth.proxy``: a local authenticating reverse proxy for other tools (HTTP and websockets).

Any Qlik tool, notebook or browser pointed at ``http://127.0.0.1:PORT/`` works through the
one proxy session of a :class:`~qlikauth.client.QlikClient`: the proxy adds the session
cookie, the CSRF token, the Xrfkey and the Origin, renews the session once when Qlik
refuses it, and streams bodies and websocket messages both ways. See ``docs/proxy.md``.
"""

from __future__ import annotations

from qlikauth.proxy.access import DEFAULT_HOST, TOKEN_HEADER, TOKEN_QUERY
from qlikauth.proxy.server import LocalProxy

__all__ = ["DEFAULT_HOST", "TOKEN_HEADER", "TOKEN_QUERY", "LocalProxy"]
