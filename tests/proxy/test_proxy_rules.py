"""The proxy's rules as pure functions: where a request goes and with which headers, how
Qlik's answers are shown to the tool, who is admitted, and what counts as a refusal."""

from __future__ import annotations

import pytest

from qlikauth.credentials import Credentials
from qlikauth.errors import ConfigurationError
from qlikauth.proxy.access import AccessPolicy
from qlikauth.proxy.answers import must_authenticate, needs_peek, session_refused
from qlikauth.proxy.local_response import local_location, local_set_cookie, response_headers
from qlikauth.proxy.upstream_request import (
    fresh_xrfkey,
    http_headers,
    is_rest,
    target_of,
    websocket_headers,
)
from qlikauth.site import Site, VirtualProxy

SITE = Site("qlik.example.com", VirtualProxy("hdr", "X-Qlik-Session-hdr"), proxy_port=8443)
SESSION = Credentials(
    cookies={"X-Qlik-Session-hdr": "sid"},
    cookie_name="X-Qlik-Session-hdr",
    csrf_token="csrf",
    headers={"Authorization": "Bearer jwt"},
)


# -- where a request goes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "query"),
    [
        ("/hub/", "hub/", ""),
        ("/", "", ""),
        ("/hdr/qrs/about", "qrs/about", ""),  # the prefix is not added twice
        ("/HDR/hub/", "hub/", ""),
        ("/hdrx/hub/", "hdrx/hub/", ""),
        ("/qrs/app?filter=name%20eq%20'a+b'&qlikauth-token=T&x=1", "qrs/app",
         "filter=name%20eq%20'a+b'&x=1"),
        ("/app/a%2Fb?qlikauth%2Dtoken=T", "app/a%2Fb", ""),
    ],
)  # fmt: skip
def test_the_target_keeps_the_tools_encoding_and_drops_the_token(
    raw: str, path: str, query: str
) -> None:
    target = target_of(SITE, raw)
    assert (target.path, target.query) == (path, query)


@pytest.mark.parametrize(
    "raw", ["/../jwt/hub/", "/hub/%2e%2e/x", "/a/./b", "http://evil.example/hub/", "*"]
)
def test_targets_that_leave_the_virtual_proxy_are_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError):
        target_of(SITE, raw)


def test_urls_under_the_virtual_proxy_with_the_xrfkey_on_rest_calls() -> None:
    rest = target_of(SITE, "/qrs/app?Xrfkey=toolsownkey00000&xrfkey=again&a=1")
    assert rest.rest
    key = fresh_xrfkey(rest)
    assert key is not None and len(key) == 16 and key.isalnum()
    assert rest.http_url(SITE, key) == f"https://qlik.example.com:8443/hdr/qrs/app?a=1&xrfkey={key}"
    hub = target_of(SITE, "/hub/?x=1")
    assert fresh_xrfkey(hub) is None
    assert hub.http_url(SITE) == "https://qlik.example.com:8443/hdr/hub/?x=1"


@pytest.mark.parametrize(
    ("path", "rest"),
    [("qrs/about", True), ("qps/user", True), ("api/hub/v1/apps", True), ("QRS/x", True),
     ("hub/", False), ("tempcontent/x/f.csv", False), ("app/x", False), ("", False)],
)  # fmt: skip
def test_which_paths_are_rest_apis(path: str, rest: bool) -> None:
    assert is_rest(path) is rest


def test_the_websocket_url_carries_the_sessions_csrf_token() -> None:
    target = target_of(SITE, "/app/abc/identity/x?qlik-csrf-token=tools&reloadUri=y")
    url = target.websocket_url(SITE, SESSION)
    assert (
        url == "wss://qlik.example.com:8443/hdr/app/abc/identity/x?reloadUri=y&qlik-csrf-token=csrf"
    )
    plain = Site("qlik.example.com", VirtualProxy("hdr"), scheme="http", proxy_port=8080)
    assert target.websocket_url(plain, SESSION).startswith("ws://qlik.example.com:8080/hdr/")


def test_the_tools_identity_and_hop_by_hop_headers_are_replaced() -> None:
    incoming = [
        ("Host", "127.0.0.1:9"),
        ("Cookie", "X-Qlik-Session-hdr=someone-else; theme=dark"),
        ("Authorization", "Basic dG9vbA=="),
        ("Referer", "http://127.0.0.1:9/hub/?qlikauth-token=T"),
        ("Qlikauth-Proxy-Token", "T"),
        ("Connection", "keep-alive, X-Private"),
        ("X-Private", "hop"),
        ("Transfer-Encoding", "chunked"),
        ("Accept", "application/json"),
        ("X-Qlik-Xrfkey", "toolsownkey00000"),
        ("Content-Type", "application/json"),
    ]
    out = http_headers(incoming, SESSION, origin=SITE.origin, xrfkey="k" * 16)
    names = [k.lower() for k, _ in out]
    assert dict(out)["Cookie"] == "X-Qlik-Session-hdr=sid"
    assert dict(out)["Authorization"] == "Bearer jwt"  # the session's own, not the tool's
    assert dict(out)["qlik-csrf-token"] == "csrf"
    assert dict(out)["X-Qlik-Xrfkey"] == "k" * 16
    assert names.count("cookie") == names.count("authorization") == 1
    assert names.count("x-qlik-xrfkey") == 1
    for gone in ("host", "referer", "qlikauth-proxy-token", "connection", "x-private",
                 "transfer-encoding", "origin"):  # fmt: skip
        assert gone not in names
    assert ("Accept", "application/json") in out
    with_origin = http_headers([("Origin", "http://127.0.0.1:9")], SESSION, origin=SITE.origin)
    assert ("Origin", "https://qlik.example.com:8443") in with_origin


def test_the_upgrade_headers_never_carry_authorization_next_to_the_cookie() -> None:
    incoming = [
        ("Authorization", "Bearer tools"),
        ("Sec-WebSocket-Key", "abc"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ("Upgrade", "websocket"),
        ("X-Qlik-Session", "ident"),
        ("User-Agent", "enigma.js"),
    ]
    out = dict(websocket_headers(incoming, SESSION))
    assert out == {"X-Qlik-Session": "ident", "User-Agent": "enigma.js",
                   "Cookie": "X-Qlik-Session-hdr=sid"}  # fmt: skip


# -- what the tool sees -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "local"),
    [
        ("https://qlik.example.com:8443/hdr/hub/", "/hub/"),
        ("https://QLIK.example.com:8443/hdr", "/"),
        ("https://qlik.example.com:8443/hdr/sense/app/x?a=1#s", "/sense/app/x?a=1#s"),
        ("/hdr/hub/", "/hub/"),
        ("/other/", "/other/"),
        ("hub/", "hub/"),
        ("https://qlik.example.com:4244/internal_forms_authentication/?targetId=1",
         "https://qlik.example.com:4244/internal_forms_authentication/?targetId=1"),
        ("https://evil.example/hdr/hub/", "https://evil.example/hdr/hub/"),
        ("http://qlik.example.com:8443/hdr/hub/", "http://qlik.example.com:8443/hdr/hub/"),
    ],
)  # fmt: skip
def test_locations_on_the_sites_proxy_become_local(location: str, local: str) -> None:
    assert local_location(SITE, location) == local


def test_cookies_for_the_tool() -> None:
    session = {"X-Qlik-Session-hdr"}
    assert local_set_cookie(SITE, "X-Qlik-Session-hdr=new; Path=/; HttpOnly", session) is None
    assert (
        local_set_cookie(
            SITE,
            "lang=de; Domain=qlik.example.com; Path=/hdr/hub; Secure; SameSite=None; HttpOnly",
            session,
        )
        == "lang=de; Path=/hub; SameSite=Lax; HttpOnly"
    )
    assert local_set_cookie(SITE, "a=1; Path=/hdr", session) == "a=1; Path=/"


def test_response_headers_keep_repeats_and_drop_hop_by_hop() -> None:
    upstream = [
        ("Content-Type", "text/html"),
        ("Set-Cookie", "a=1; Secure"),
        ("Set-Cookie", "X-Qlik-Session-hdr=x"),
        ("Set-Cookie", "b=2"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Location", "https://qlik.example.com:8443/hdr/hub/"),
        ("Content-Length", "12"),
    ]
    out = response_headers(SITE, upstream, {"X-Qlik-Session-hdr"})
    assert out == [
        ("Content-Type", "text/html"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Location", "/hub/"),
        ("Content-Length", "12"),
    ]


# -- who is admitted ----------------------------------------------------------------------

POLICY = AccessPolicy.build("secret", bound_host="127.0.0.1", port=9000, accept_hosts=["dev.box"])


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        ({"host": "127.0.0.1:9000", "header_token": "secret"}, None),
        ({"host": "localhost:9000", "query_token": "secret"}, None),
        ({"host": "[::1]:9000", "cookie_token": "secret"}, None),
        ({"host": "dev.box:9000", "header_token": "secret"}, None),
        ({"host": "evil.example:9000", "header_token": "secret"}, 403),
        ({"host": None, "header_token": "secret"}, 403),
        ({"host": "127.0.0.1:9000"}, 401),
        ({"host": "127.0.0.1:9000", "header_token": "wrong"}, 401),
        ({"host": "127.0.0.1:9000", "header_token": "wrong", "cookie_token": "secret"}, 401),
        ({"host": "127.0.0.1:9000", "cookie_token": "secret",
          "origin": "http://127.0.0.1:9000"}, None),
        ({"host": "127.0.0.1:9000", "cookie_token": "secret", "origin": "https://evil"}, 403),
        ({"host": "127.0.0.1:9000", "header_token": "secret", "origin": "https://x"}, None),
    ],
)  # fmt: skip
def test_admission(request_: dict[str, str | None], status: int | None) -> None:
    arguments: dict[str, str | None] = {
        "host": None, "origin": None, "header_token": None, "query_token": None,
        "cookie_token": None, **request_,
    }  # fmt: skip
    assert POLICY.admit(**arguments).status == status  # type: ignore[arg-type]


def test_a_query_token_is_remembered_as_a_cookie() -> None:
    admitted = POLICY.admit(host="127.0.0.1:9000", origin=None, header_token=None,
                            query_token="secret", cookie_token=None)  # fmt: skip
    assert admitted.remember
    assert POLICY.cookie().startswith("qlikauth-proxy-9000=secret;")
    no_token = AccessPolicy.build(None, bound_host=None, port=None)
    assert no_token.admit(host="localhost", origin=None, header_token=None, query_token=None,
                          cookie_token=None).admitted  # fmt: skip


# -- what counts as a refusal ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "refused"),
    [
        (401, [], b"", True),
        (403, [], b"Cross-site request forgery: CSRF token missing", True),
        (403, [], b"XSRF prevention check failed. Possible XSRF discovered.", False),
        (403, [], b"Forbidden", False),
        (302, [("Location", "https://h:4244/internal_windows_authentication/?targetId=1")],
         b"", True),
        (302, [("Location", "/hdr/hub/")], b"", False),
        (200, [("Content-Type", "text/html")],
         b'<html><form action="login"><input name="pwd" type="password"></form></html>', True),
        (200, [("Content-Type", "text/html")], b"<html><h1>Hub</h1></html>", False),
        (200, [("Content-Type", "application/json")], b"{}", False),
        (404, [], b"Not found.", False),
    ],
)  # fmt: skip
def test_session_refusals(
    status: int, headers: list[tuple[str, str]], body: bytes, refused: bool
) -> None:
    url = "https://qlik.example.com:8443/hdr/hub/"
    assert session_refused(SITE, "GET", url, "c=1", status, headers, body) is refused


def test_what_needs_the_bodys_head() -> None:
    assert needs_peek(403, "text/plain")
    assert needs_peek(200, "text/html; charset=utf-8")
    assert not needs_peek(200, "application/octet-stream")
    assert not needs_peek(302, "text/html")


def test_must_authenticate() -> None:
    info = '{"jsonrpc":"2.0","method":"OnAuthenticationInformation","params":{%s}}'
    assert must_authenticate(info % '"mustAuthenticate":true,"loginUri":"x"') is True
    assert must_authenticate(info % '"mustAuthenticate":false') is False
    assert must_authenticate('{"jsonrpc":"2.0","method":"OnConnected","params":{}}') is None
    assert must_authenticate("OnAuthenticationInformation but not JSON") is None
