"""HTTP values, Xrfkey, login detection, and the transport over real loopback TLS."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qlikauth import (
    ApiError,
    CertificateBundle,
    ConfigurationError,
    HostnameMismatchError,
    InvalidHeaderValueError,
    LoginRedirectError,
    Site,
    TlsConfig,
    TlsError,
    TransportError,
    VirtualProxy,
    XrfkeyRejectedError,
)
from qlikauth.http import (
    Flow,
    HttpRequest,
    HttpResponse,
    HttpTransport,
    check_login_redirect,
    check_response,
    new_xrfkey,
    run_flow,
    run_flow_async,
    with_xrfkey,
)
from qlikauth.pki import TestPki, make_test_pki

LOGIN_PAGE = (
    b"<!DOCTYPE html><html><body><form method='post' action='login'>"
    b"<input name='username'><input type='password' name=\"pwd\"></form></body></html>"
)


# --- pure parts ----------------------------------------------------------------------------


def test_xrfkey_is_16_alphanumerics_and_fresh() -> None:
    keys = {new_xrfkey() for _ in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch(r"[0-9A-Za-z]{16}", k) for k in keys)


def test_with_xrfkey_puts_the_same_key_in_query_and_header() -> None:
    request = with_xrfkey(HttpRequest("GET", "https://h:4243/qps/ticket?Xrfkey=old&a=1"))
    key = request.headers["X-Qlik-Xrfkey"]
    assert request.url == f"https://h:4243/qps/ticket?a=1&xrfkey={key}"
    assert key not in repr(request)


def test_request_refuses_header_injection() -> None:
    with pytest.raises(InvalidHeaderValueError):
        HttpRequest("GET", "https://h/", {"X-User": "a\r\nSet-Cookie: x=y"})


def test_response_keeps_repeated_set_cookie_headers() -> None:
    response = HttpResponse(
        200,
        (
            ("Set-Cookie", "X-Qlik-Session-hdr=abc; Path=/; Secure; HttpOnly"),
            ("Set-Cookie", "other=1; Path=/"),
            ("Content-Type", "application/json"),
        ),
        b'{"a": 1}',
    )
    assert response.set_cookies() == {"X-Qlik-Session-hdr": "abc", "other": "1"}
    assert response.header("content-type") == "application/json"
    assert response.json() == {"a": 1}


def test_json_on_a_login_page_says_so() -> None:
    page = HttpResponse(
        200, (("Content-Type", "text/html"),), LOGIN_PAGE, "https://h/hdr/qrs/about"
    )
    with pytest.raises(LoginRedirectError, match="HTML login page"):
        page.json()
    garbage = HttpResponse(200, (("Content-Type", "text/plain"),), b"nope")
    with pytest.raises(ApiError, match="expected JSON"):
        garbage.json()


def test_login_redirect_diagnosis_names_the_cookie_problem() -> None:
    site = Site("h", VirtualProxy("hdr", "X-Qlik-Session-hdr"))
    redirect = HttpResponse(
        302, (("Location", "https://h:4244/internal_windows_authentication/?targetId=1"),)
    )
    seed_article = HttpRequest("GET", "https://h/hdr/tempcontent/x.csv", {"X-Qlik-Session": "1111"})
    with pytest.raises(LoginRedirectError, match="no session cookie was sent") as info:
        check_login_redirect(seed_article, redirect, site=site)
    assert "X-Qlik-Session is not a session" in str(info.value)
    wrong_name = HttpRequest("GET", "https://h/hdr/x", {"Cookie": "X-Qlik-Session=1"})
    with pytest.raises(LoginRedirectError, match="expects X-Qlik-Session-hdr"):
        check_login_redirect(wrong_name, redirect, site=site)
    stale = HttpRequest("GET", "https://h/hdr/x", {"Cookie": "X-Qlik-Session-hdr=old"})
    with pytest.raises(LoginRedirectError, match="does not know it"):
        check_login_redirect(stale, redirect, site=site)
    ok = HttpResponse(200, (("Content-Type", "text/csv"),), b"a,b\n")
    check_login_redirect(stale, ok, site=site)  # a file is not a login page


def test_check_response_maps_statuses() -> None:
    xsrf = HttpResponse(403, body=b"XSRF prevention check failed. Possible XSRF discovered.")
    with pytest.raises(XrfkeyRejectedError, match="XSRF"):
        check_response(xsrf, what="POST ticket")
    with pytest.raises(ApiError, match="HTTP 404") as info:
        check_response(HttpResponse(404, body=b"Not found"), what="GET user")
    assert info.value.status == 404 and info.value.hint
    ok = HttpResponse(201)
    assert check_response(ok, what="x") is ok


# --- the transport, against a real TLS server on loopback ----------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            self._send(302, b"", [("Location", "https://elsewhere.example/login")])
        elif self.path.startswith("/cookies"):
            self._send(
                204,
                b"",
                [("Set-Cookie", "X-Qlik-Session=s1; Path=/"), ("Set-Cookie", "b=2; Path=/")],
            )
        else:
            peer = (
                self.connection.getpeercert()
                if isinstance(self.connection, ssl.SSLSocket)
                else None
            )
            body = json.dumps(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "client_cert": bool(peer),
                    "port": self.server.server_address[1],
                    "peer": self.client_address[1],
                }
            ).encode()
            self._send(200, body, [("Content-Type", "application/json")])

    do_DELETE = do_GET


class _TLSServer:
    def __init__(self, pki: TestPki, *, require_client_cert: bool) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.server, pki.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(pki.root)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(tmp_path_factory.mktemp("pki"), ["localhost"], pfx_password="pw")


@pytest.fixture(scope="module")
def servers(pki: TestPki) -> Iterator[tuple[_TLSServer, _TLSServer]]:
    proxy = _TLSServer(pki, require_client_cert=False)
    qps = _TLSServer(pki, require_client_cert=True)
    yield proxy, qps
    proxy.close()
    qps.close()


def _site(pki: TestPki, servers: tuple[_TLSServer, _TLSServer], host: str = "localhost") -> Site:
    proxy, qps = servers
    bundle = CertificateBundle.from_folder(pki.directory)
    return Site(host, proxy_port=proxy.port, qps_port=qps.port, tls=TlsConfig(bundle=bundle))


def test_site_root_is_used_even_with_requests_ca_bundle_set(
    pki: TestPki, servers: tuple[_TLSServer, _TLSServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets this variable override Session.verify (psf/requests#3829); qlikauth must not.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    monkeypatch.setenv("CURL_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    site = _site(pki, servers)
    with HttpTransport(site) as transport:
        response = transport.send(HttpRequest("GET", site.proxy_url("hub/")))
    assert response.status == 200
    assert response.json()["client_cert"] is False


def test_trusted_ports_present_the_client_certificate(
    pki: TestPki, servers: tuple[_TLSServer, _TLSServer]
) -> None:
    site = _site(pki, servers)
    with HttpTransport(site) as transport:
        response = transport.send(with_xrfkey(HttpRequest("GET", site.qps_url("user/D/u"))))
    body = response.json()
    assert body["client_cert"] is True
    assert body["headers"]["x-qlik-xrfkey"] in body["path"]


def test_client_certificate_is_needed_for_trusted_ports(
    pki: TestPki, servers: tuple[_TLSServer, _TLSServer]
) -> None:
    proxy, qps = servers
    site = Site("localhost", proxy_port=proxy.port, qps_port=qps.port, tls=TlsConfig(root=pki.root))
    with HttpTransport(site) as transport, pytest.raises(ConfigurationError):
        transport.send(HttpRequest("GET", site.qps_url("ticket")))


def test_redirects_are_never_followed(pki: TestPki, servers: tuple[_TLSServer, _TLSServer]) -> None:
    site = _site(pki, servers)
    with HttpTransport(site) as transport:
        response = transport.send(HttpRequest("GET", site.proxy_url("redirect")))
    assert response.status == 302
    assert response.location == "https://elsewhere.example/login"


def test_connections_are_reused(pki: TestPki, servers: tuple[_TLSServer, _TLSServer]) -> None:
    site = _site(pki, servers)
    with HttpTransport(site) as transport:
        peers = {
            transport.send(HttpRequest("GET", site.proxy_url("x"))).json()["peer"] for _ in range(5)
        }
    assert len(peers) == 1  # one TCP connection (one TLS handshake) for five requests


def test_hostname_mismatch_names_what_the_certificate_holds(
    pki: TestPki, servers: tuple[_TLSServer, _TLSServer]
) -> None:
    site = _site(pki, servers, host="127.0.0.1")  # the certificate names only localhost
    with HttpTransport(site) as transport, pytest.raises(HostnameMismatchError) as info:
        transport.send(HttpRequest("GET", site.proxy_url("hub/")))
    assert "localhost" in info.value.server_names
    assert "localhost" in str(info.value)


def test_connection_refused_is_a_transport_error(pki: TestPki) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = Site("localhost", proxy_port=port, tls=TlsConfig(root=pki.root))
    with HttpTransport(site, timeout=5) as transport, pytest.raises(TransportError) as info:
        transport.send(HttpRequest("GET", site.proxy_url()))
    assert str(port) in str(info.value)


def _two_step_flow(site: Site) -> Flow[tuple[str, dict[str, str]]]:
    first = yield HttpRequest("GET", site.proxy_url("cookies"))
    cookies = first.set_cookies()
    second = yield HttpRequest(
        "GET", site.proxy_url("echo"), {"Cookie": f"X-Qlik-Session={cookies['X-Qlik-Session']}"}
    )
    return second.json()["path"], second.json()["headers"]


def test_run_flow_sync_and_async_drive_the_same_flow(
    pki: TestPki, servers: tuple[_TLSServer, _TLSServer]
) -> None:
    site = _site(pki, servers)
    with HttpTransport(site) as transport:
        sync_result = run_flow(_two_step_flow(site), transport)
        async_result = asyncio.run(run_flow_async(_two_step_flow(site), transport))
    assert sync_result == async_result
    assert sync_result[0] == "/echo"
    assert sync_result[1]["cookie"] == "X-Qlik-Session=s1"


def test_run_flow_closes_the_flow_on_error(
    pki: TestPki, servers: tuple[_TLSServer, _TLSServer]
) -> None:
    site = _site(pki, servers)
    closed: list[bool] = []

    def flow() -> Flow[None]:
        try:
            response = yield HttpRequest("GET", site.proxy_url("echo"))
            raise ApiError("flow gave up", status=response.status)
        finally:
            closed.append(True)

    with HttpTransport(site) as transport, pytest.raises(ApiError, match="gave up"):
        run_flow(flow(), transport)
    assert closed == [True]


def test_ca_bundle_file_is_not_mutated(pki: TestPki, tmp_path: Path) -> None:
    # Building contexts must not write into the PKI folder.
    before = sorted(p.name for p in pki.directory.iterdir())
    TlsConfig(root=pki.root).server_context()
    assert sorted(p.name for p in pki.directory.iterdir()) == before


def test_refused_client_certificate_is_explained(
    pki: TestPki, servers: tuple[_TLSServer, _TLSServer], tmp_path: Path
) -> None:
    # A client certificate from another PKI: the server refuses it (after the handshake,
    # under TLS 1.3), which must read as a TLS problem, not as a flaky network.
    stranger = make_test_pki(tmp_path / "other", ["localhost"], pfx_password="pw")
    bundle = CertificateBundle(stranger.client, stranger.client_key, pki.root)
    proxy, qps = servers
    site = Site("localhost", proxy_port=proxy.port, qps_port=qps.port, tls=TlsConfig(bundle=bundle))
    with HttpTransport(site) as transport, pytest.raises(TlsError) as info:
        transport.send(HttpRequest("GET", site.qps_url("ticket")))
    assert not isinstance(info.value, TransportError)
    assert info.value.hint
