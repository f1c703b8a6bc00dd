"""Plain-protocol clients for the emulator tests: requests, websockets and ssl only.

Nothing here uses qlikauth's client side: the tests speak the wire protocol by hand, so a
misreading cannot hide by being shared between client and emulator.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import ssl
import string
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection
from websockets.typing import Origin

from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.wsclient import connect

_XRF_ALPHABET = string.ascii_letters + string.digits


def xrfkey() -> str:
    """A fresh 16-character Xrfkey."""
    return "".join(secrets.choice(_XRF_ALPHABET) for _ in range(16))


def unique_user() -> str:
    """A user id no other test uses (keeps the per-user session limit out of the way)."""
    return f"user{uuid.uuid4().hex[:10]}"


class Wire:
    """Hand-made HTTP and websocket calls to one emulator."""

    def __init__(self, info: EmulatorInfo) -> None:
        self.info = info
        self.verify = str(info.root)
        self.cert = info.client_cert

    xrfkey = staticmethod(xrfkey)
    new_user = staticmethod(unique_user)

    @staticmethod
    def rpc(ws: ClientConnection) -> Rpc:
        """JSON-RPC calls over this socket."""
        return Rpc(ws)

    @staticmethod
    def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
        """The next frame as JSON."""
        return recv_json(ws, timeout)

    # -- HTTP -----------------------------------------------------------------------------

    def qps(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        base: str | None = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """A QPS/QRS call with mutual TLS and a matching Xrfkey pair."""
        k = key or xrfkey()
        sep = "&" if "?" in path else "?"
        all_headers = {"X-Qlik-Xrfkey": k, **(headers or {})}
        return requests.request(
            method,
            f"{base or self.info.qps_url}{path}{sep}xrfkey={k}",
            json=body,
            headers=all_headers,
            cert=self.cert,
            verify=self.verify,
            timeout=10,
        )

    def proxy(
        self,
        method: str,
        path: str,
        *,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> requests.Response:
        """A proxy call that does not follow redirects (a redirect is the answer to see)."""
        sender: Any = session or requests
        return sender.request(  # type: ignore[no-any-return]
            method,
            self.info.proxy_url + path,
            cookies=cookies,
            headers=headers,
            params=params,
            verify=self.verify,
            allow_redirects=False,
            timeout=10,
        )

    def http(self, path: str, **kwargs: Any) -> requests.Response:
        """A GET on the proxy's plain http listener, redirects not followed."""
        return requests.get(
            self.info["proxy_http_url"] + path, allow_redirects=False, timeout=10, **kwargs
        )

    def add_session(
        self,
        prefix: str,
        user_id: str,
        directory: str = "QLIKEMU",
        attributes: list[dict[str, str]] | None = None,
    ) -> str:
        """``POST /qps/{prefix}/session`` with a fresh uuid4; returns the session id."""
        sid = str(uuid.uuid4())
        head = f"/{prefix}" if prefix else ""
        response = self.qps(
            "POST",
            f"/qps{head}/session",
            {
                "UserDirectory": directory,
                "UserId": user_id,
                "Attributes": attributes or [],
                "SessionId": sid,
            },
        )
        assert response.status_code == 201, response.text
        return sid

    def cookie(self, prefix: str, sid: str) -> dict[str, str]:
        """The session cookie of a virtual proxy."""
        return {self.info.cookie_name(prefix): sid}

    def csrf(self, prefix: str, sid: str) -> str:
        """The websocket CSRF token of a session (``GET /{vp}/qps/csrftoken``)."""
        head = f"/{prefix}" if prefix else ""
        response = self.proxy("GET", f"{head}/qps/csrftoken", cookies=self.cookie(prefix, sid))
        assert response.status_code == 204, response.text
        return response.headers["qlik-csrf-token"]

    # -- TLS and websockets ---------------------------------------------------------------

    def ssl_context(self, *, client_cert: bool = False) -> ssl.SSLContext:
        """Trust the emulator's root; present the client certificate when asked."""
        context = ssl.create_default_context(cafile=self.verify)
        if client_cert:
            context.load_cert_chain(*self.cert)
        return context

    def ws_url(self, prefix: str, route: str = "app/engineData") -> str:
        head = f"/{prefix}" if prefix else ""
        return self.info.proxy_url.replace("https://", "wss://") + f"{head}/{route}"

    def ws_proxy(
        self,
        prefix: str,
        route: str = "app/engineData",
        *,
        sid: str | None = None,
        token: str | None = None,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> ClientConnection:
        """A websocket through the proxy (Nov 2024 style when sid and token are given)."""
        url = self.ws_url(prefix, route)
        params = []
        if token is not None:
            params.append(f"qlik-csrf-token={token}")
        if query:
            params.append(query)
        if params:
            url += "?" + "&".join(params)
        all_headers = dict(headers or {})
        if sid is not None:
            all_headers["Cookie"] = f"{self.info.cookie_name(prefix)}={sid}"
        return connect(
            url,
            ssl=self.ssl_context(),
            origin=Origin(origin) if origin is not None else None,
            additional_headers=all_headers,
            proxy=None,
            legacy=True,  # websockets 17: connect directly, not as a context manager
            open_timeout=10,
            close_timeout=2,
        )

    def ws_session(self, prefix: str, user_id: str, route: str = "app/engineData") -> Any:
        """A proxy session, its CSRF token and an open socket, the correct way."""
        sid = self.add_session(prefix, user_id)
        token = self.csrf(prefix, sid)
        ws = self.ws_proxy(prefix, route, sid=sid, token=token, origin=f"https://{self.info.host}")
        return sid, ws

    def ws_direct(
        self,
        route: str = "app/engineData",
        *,
        user: str | None = "UserDirectory=QLIKEMU; UserId=alice",
    ) -> ClientConnection:
        """A direct engine websocket with the client certificate and ``X-Qlik-User``."""
        headers = {"X-Qlik-User": user} if user is not None else {}
        return connect(
            f"{self.info.engine_url}/{route}",
            ssl=self.ssl_context(client_cert=True),
            additional_headers=headers,
            proxy=None,
            legacy=True,  # websockets 17: connect directly, not as a context manager
            open_timeout=10,
            close_timeout=2,
        )


def recv_json(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    """The next frame as JSON."""
    return json.loads(ws.recv(timeout=timeout))  # type: ignore[no-any-return]


class Rpc:
    """Numbered JSON-RPC calls over an open engine socket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 1
        self.notifications: list[dict[str, Any]] = []

    def call(self, method: str, handle: int = -1, params: Any = None) -> dict[str, Any]:
        """Send one request and return its whole response (result or error)."""
        request_id = self.next_id
        self.next_id += 1
        self.ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "handle": handle,
                    "method": method,
                    "params": params if params is not None else {},
                }
            )
        )
        while True:
            message = recv_json(self.ws)
            if message.get("id") == request_id:
                return message
            self.notifications.append(message)

    def export(self, app_id: str, *, serve_once: bool = False) -> str:
        """OpenDoc, a Sales hypercube, ExportData CSV_C: the ``qUrl``."""
        opened = self.call("OpenDoc", -1, {"qDocName": app_id})
        doc = opened["result"]["qReturn"]["qHandle"]
        created = self.call(
            "CreateSessionObject",
            doc,
            {
                "qProp": {
                    "qInfo": {"qType": "table"},
                    "qHyperCubeDef": {
                        "qDimensions": [{"qDef": {"qFieldDefs": ["Country"]}}],
                        "qMeasures": [{"qDef": {"qDef": "Sum(Amount)"}}],
                    },
                }
            },
        )
        obj = created["result"]["qReturn"]["qHandle"]
        exported = self.call(
            "ExportData",
            obj,
            {"qFileType": "CSV_C", "qPath": "/qHyperCubeDef", "qServeOnce": serve_once},
        )
        return str(exported["result"]["qUrl"])


@pytest.fixture
def wire(qlik_emulator: EmulatorInfo) -> Wire:
    """Calls against the session-scoped emulator."""
    return Wire(qlik_emulator)


@pytest.fixture
def may_wire(qlik_emulator_2024_05: EmulatorInfo) -> Wire:
    """Calls against the session-scoped emulator of the May 2024 release."""
    return Wire(qlik_emulator_2024_05)


@pytest.fixture
def release_wire(qlik_emulator_release: EmulatorInfo) -> Wire:
    """Calls against the session emulator of each release mode (the test runs for both)."""
    return Wire(qlik_emulator_release)


@pytest.fixture
def http_wire(qlik_emulator_http: EmulatorInfo) -> Wire:
    """Calls against the session-scoped emulator that also serves plain http."""
    return Wire(qlik_emulator_http)


@pytest.fixture
def fresh_wire(qlik_emulator_factory: Callable[..., EmulatorInfo]) -> Callable[..., Wire]:
    """Start a fresh emulator with configuration overrides and get calls against it."""

    def make(**overrides: Any) -> Wire:
        return Wire(qlik_emulator_factory(**overrides))

    return make


@pytest.fixture
def sales_id(qlik_emulator: EmulatorInfo) -> str:
    """The id of the Sales app."""
    return qlik_emulator.app_id("Sales")


def close_quietly(ws: ClientConnection) -> None:
    """Close a socket, whatever state it is in."""
    with contextlib.suppress(Exception):
        ws.close()


@pytest.fixture
def sockets() -> Iterator[list[ClientConnection]]:
    """Sockets to close at the end of a test."""
    opened: list[ClientConnection] = []
    yield opened
    for ws in opened:
        close_quietly(ws)
