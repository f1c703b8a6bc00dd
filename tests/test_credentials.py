"""Credentials: presentation to HTTP and websockets, validation, and redaction."""

from __future__ import annotations

import dataclasses

import pytest

from qlikauth import (
    ConfigurationError,
    Credentials,
    InvalidHeaderValueError,
    QlikUser,
    Route,
    Site,
    VirtualProxy,
)

SECRET_COOKIE = "c0ffee-5e55-10n-1d"
SECRET_CSRF = "csrf-t0ken-value"
SECRET_BEARER = "Bearer eyJhbGciOi.secret.sig"


@pytest.fixture
def creds() -> Credentials:
    return Credentials(
        user=QlikUser("CORP", "alice"),
        headers={"Authorization": SECRET_BEARER, "header_user": "alice"},
        cookies={"X-Qlik-Session-jwt": SECRET_COOKIE},
        csrf_token=SECRET_CSRF,
        cookie_name="X-Qlik-Session-jwt",
        websocket_params={"QlikTicket": "tkt-secret"},
    )


def test_repr_and_str_hide_every_secret(creds: Credentials) -> None:
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        for secret in (SECRET_COOKIE, SECRET_CSRF, SECRET_BEARER, "tkt-secret"):
            assert secret not in text
    assert "X-Qlik-Session-jwt" in repr(creds)  # the cookie's name is not secret
    assert "CORP\\\\alice" in repr(creds)


def test_http_headers_carry_cookie_and_csrf(creds: Credentials) -> None:
    headers = creds.http_headers()
    assert headers["Cookie"] == f"X-Qlik-Session-jwt={SECRET_COOKIE}"
    assert headers["qlik-csrf-token"] == SECRET_CSRF
    assert headers["header_user"] == "alice"


def test_websocket_upgrade_drops_authorization_when_a_cookie_exists(creds: Credentials) -> None:
    headers = creds.websocket_headers()
    assert "Authorization" not in headers
    assert headers["Cookie"] == f"X-Qlik-Session-jwt={SECRET_COOKIE}"
    bearer_only = Credentials(headers={"Authorization": SECRET_BEARER})
    assert bearer_only.websocket_headers() == {"Authorization": SECRET_BEARER}


def test_websocket_url_carries_the_csrf_token(creds: Credentials) -> None:
    site = Site("qlik.example.com", VirtualProxy("jwt"))
    url = creds.websocket_url(site, "app-1", ttl=5)
    assert url.startswith("wss://qlik.example.com/jwt/app/app-1/ttl/5?")
    assert f"qlik-csrf-token={SECRET_CSRF}" in url
    assert "QlikTicket=tkt-secret" in url


def test_direct_route_goes_to_the_engine_port() -> None:
    user = QlikUser("INTERNAL", "sa_api")
    direct = Credentials(
        route=Route.DIRECT, user=user, headers={"X-Qlik-User": user.header_value()}
    )
    site = Site("qlik.example.com", VirtualProxy("hdr"))
    assert direct.websocket_url(site) == "wss://qlik.example.com:4747/app/engineData"
    assert direct.websocket_headers() == {"X-Qlik-User": "UserDirectory=INTERNAL; UserId=sa_api"}


def test_credentials_are_immutable(creds: Credentials) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.csrf_token = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        creds.cookies["X"] = "y"  # type: ignore[index]
    assert creds.replace(csrf_token="new").csrf_token == "new"
    assert creds.csrf_token == SECRET_CSRF


def test_session_id_and_expiry() -> None:
    c = Credentials(
        cookies={"X-Qlik-Session": "abc"}, cookie_name="X-Qlik-Session", expires_at=1000.0
    )
    assert c.session_id == "abc"
    assert not c.expired(now=900.0)
    assert c.expired(now=975.0)  # within the default leeway
    assert c.expired(now=999.0, leeway=0.0) is False
    assert Credentials().expired() is False


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"header_user": "al\r\nX-Evil: 1"}, "line break"),
        ({"header_user": "Jürgen"}, "US-ASCII"),
        ({"bad header": "x"}, "header name"),
    ],
)
def test_bad_header_values_are_refused(headers: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidHeaderValueError, match=match):
        Credentials(headers=headers)


def test_bad_cookies_are_refused() -> None:
    with pytest.raises(InvalidHeaderValueError):
        Credentials(cookies={"X-Qlik-Session": "a;b"})
    with pytest.raises(InvalidHeaderValueError):
        Credentials(cookies={"X-Qlik-Session": "a\nb"})


def test_qlik_user_header_value_is_url_encoded() -> None:
    assert (
        QlikUser("CORP", "anna maria").header_value() == "UserDirectory=CORP; UserId=anna%20maria"
    )
    assert QlikUser("CORP", "émile").header_value() == "UserDirectory=CORP; UserId=%C3%A9mile"


@pytest.mark.parametrize(
    "text",
    ["CORP\\alice", "UserDirectory=CORP; UserId=alice", "UserDirectory=CORP;UserId=alice"],
)
def test_qlik_user_parse(text: str) -> None:
    assert QlikUser.parse(text) == QlikUser("CORP", "alice")


def test_qlik_user_validation() -> None:
    with pytest.raises(ConfigurationError, match="backslash"):
        QlikUser("CORP", "a\\b")
    with pytest.raises(ConfigurationError, match="empty"):
        QlikUser(" ", "alice")
    with pytest.raises(ConfigurationError):
        QlikUser.parse("alice")


def test_websocket_options_for_third_party_clients(creds: Credentials) -> None:
    site = Site("qlik.example.com", VirtualProxy("jwt"))
    options = creds.websocket_options(site, "app-1")
    assert options.url == creds.websocket_url(site, "app-1")
    assert options.origin == "https://qlik.example.com"
    assert options.ssl_context is site.tls.server_context()
    assert "Authorization" not in options.headers  # a cookie exists
    kwargs = options.websocket_client_kwargs()
    assert kwargs["header"] == ["header_user: alice", f"Cookie: X-Qlik-Session-jwt={SECRET_COOKIE}"]
    assert kwargs["sslopt"] == {"context": options.ssl_context}
    assert options.websockets_kwargs()["additional_headers"] == dict(options.headers)
    for secret in (SECRET_COOKIE, SECRET_CSRF, "tkt-secret"):
        assert secret not in repr(options)
