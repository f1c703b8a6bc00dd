"""HTTP for qlikauth: request/response values, what Qlik's answers mean, the transport, drivers.

:mod:`~qlikauth.http.values` and :mod:`~qlikauth.http.diagnosis` do no I/O (logins and the
client's operations build on them); :mod:`~qlikauth.http.transport` sends requests over a
``requests.Session``; :mod:`~qlikauth.http.drivers` runs flows over it.
"""

from __future__ import annotations

from qlikauth.http.diagnosis import (
    check_login_redirect,
    check_response,
    session_count_in,
    session_limit_refusal,
)
from qlikauth.http.drivers import run_flow, run_flow_async
from qlikauth.http.transport import HttpStream, HttpTransport, mount_site_tls
from qlikauth.http.values import Flow, HttpRequest, HttpResponse, new_xrfkey, with_xrfkey

__all__ = [
    "Flow",
    "HttpRequest",
    "HttpResponse",
    "HttpStream",
    "HttpTransport",
    "check_login_redirect",
    "check_response",
    "mount_site_tls",
    "new_xrfkey",
    "run_flow",
    "run_flow_async",
    "session_count_in",
    "session_limit_refusal",
    "with_xrfkey",
]
