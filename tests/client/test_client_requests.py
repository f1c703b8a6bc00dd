"""RequestsAuth: a plain ``requests`` script gains the client's session, and only for the site."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from client_support import end_user_sessions, make_site, new_user_id, proxy_sessions

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient, RequestsAuth
from qlikauth.credentials import QlikUser
from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo


@pytest.fixture
def client(qlik_emulator: EmulatorInfo) -> QlikClient:
    return QlikClient(make_site(qlik_emulator, "hdr"), HeaderAuth(user=new_user_id()))


def user_of(client: QlikClient) -> QlikUser:
    return QlikUser("QLIKEMU", getattr(client.authenticator, "user"))  # noqa: B009


def test_plain_requests_get_uses_the_one_session(
    qlik_emulator: EmulatorInfo, client: QlikClient
) -> None:
    auth = RequestsAuth(client)
    root = str(qlik_emulator.root)
    with client:
        for _ in range(5):
            answer = requests.get(client.site.personal_url("user"), auth=auth, verify=root)
            assert answer.status_code == 200
            assert answer.json()["userId"] == user_of(client).user_id
        assert client.login_count == 1
        assert proxy_sessions(qlik_emulator, "hdr", user_of(client)) == 1


@pytest.mark.parametrize("path", ["qrs/about", "qps/user"])
def test_every_call_through_the_proxy_gets_an_xrfkey(
    qlik_emulator: EmulatorInfo, client: QlikClient, path: str
) -> None:
    with client:
        answer = requests.get(
            client.site.proxy_url(path, {"keep": "me"}),
            auth=RequestsAuth(client),
            verify=str(qlik_emulator.root),
        )
        assert answer.status_code == 200
        sent = answer.request
        query = dict(parse_qsl(urlsplit(sent.url or "").query))
        assert query["xrfkey"] == sent.headers["X-Qlik-Xrfkey"]
        assert query["keep"] == "me"


def test_refused_session_logs_in_once_and_resends(
    qlik_emulator: EmulatorInfo, client: QlikClient
) -> None:
    auth = RequestsAuth(client)
    root = str(qlik_emulator.root)
    url = client.site.proxy_url("qrs/about")
    with client, requests.Session() as session:
        session.auth = auth
        session.verify = root
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify (psf/requests#3829)
        assert session.get(url).status_code == 200
        end_user_sessions(qlik_emulator, "hdr", user_of(client))
        answer = session.get(url)
        assert answer.status_code == 200
        assert [r.status_code for r in answer.history] == [401]
        assert client.login_count == 2
        assert proxy_sessions(qlik_emulator, "hdr", user_of(client)) == 1


def test_same_site_redirect_keeps_the_session(
    qlik_emulator: EmulatorInfo, client: QlikClient
) -> None:
    with client:
        # /hdr/ answers 302 to /hdr/hub/: requests follows it and must still be logged in.
        answer = requests.get(
            client.site.proxy_url(""), auth=RequestsAuth(client), verify=str(qlik_emulator.root)
        )
        assert [r.status_code for r in answer.history] == [302]
        assert answer.status_code == 200
        assert f"{client.site.cookie_name}=" in (answer.request.headers.get("Cookie") or "")
        assert client.login_count == 1


def test_no_credentials_to_another_host(qlik_emulator: EmulatorInfo, client: QlikClient) -> None:
    port = client.site.proxy_port
    # The same server by IP address is another host as far as the site is concerned.
    foreign = f"https://127.0.0.1:{port}/hdr/qps/user"
    with client:
        client.credentials()
        answer = requests.get(foreign, auth=RequestsAuth(client), verify=str(qlik_emulator.root))
        assert answer.status_code == 200
        assert answer.json().get("session") == "inactive"
        for name in ("Cookie", "qlik-csrf-token", "header_user"):
            assert name not in answer.request.headers


def test_redirect_to_another_host_strips_the_credentials(client: QlikClient) -> None:
    auth = RequestsAuth(client)
    with client:
        prepared = requests.Request("GET", client.site.proxy_url("hub/")).prepare()
        prepared = auth(prepared)
        assert "Cookie" in prepared.headers
        assert "qlik-csrf-token" in prepared.headers
        redirect = requests.Response()
        redirect.status_code = 302
        redirect.headers["Location"] = "https://elsewhere.example.net/steal"
        redirect.url = prepared.url or ""
        redirect.request = prepared
        assert auth._on_response(redirect) is redirect
        assert "Cookie" not in prepared.headers
        assert "qlik-csrf-token" not in prepared.headers
        # the copy requests makes for the next hop carries no session cookie either
        follow = prepared.copy()
        follow.prepare_url("https://elsewhere.example.net/steal", None)
        follow.prepare_cookies(follow._cookies)  # type: ignore[attr-defined]
        assert "Cookie" not in follow.headers


def test_client_http_is_a_requests_session_with_the_site_trust(
    qlik_emulator: EmulatorInfo, client: QlikClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CA bundle from the environment must not replace the site's root (psf/requests#3829).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca-bundle.pem")
    with client:
        answer = client.http.get(client.site.personal_url("user"))
        assert answer.status_code == 200
        assert answer.json()["userId"] == user_of(client).user_id
        assert client.login_count == 1


def test_certificate_user_goes_only_to_the_trusted_ports(qlik_emulator: EmulatorInfo) -> None:
    from qlikauth.auth.certificate import CertificateAuth

    site = make_site(qlik_emulator, "")
    with QlikClient(site, CertificateAuth(user="alice", directory="QLIKEMU")) as client:
        auth = RequestsAuth(client)
        qrs = requests.get(
            site.qrs_url("about"),
            auth=auth,
            cert=qlik_emulator.client_cert,
            verify=str(qlik_emulator.root),
        )
        assert qrs.status_code == 200
        assert qrs.request.headers["X-Qlik-User"] == "UserDirectory=QLIKEMU; UserId=alice"
        assert qrs.request.headers["X-Qlik-Xrfkey"] in (qrs.request.url or "")
        proxy = requests.Request("GET", site.proxy_url("hub/")).prepare()
        assert "X-Qlik-User" not in auth(proxy).headers


def test_client_http_presents_the_certificate_on_the_trusted_ports(
    qlik_emulator: EmulatorInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qlikauth.auth.certificate import CertificateAuth

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca-bundle.pem")
    site = make_site(qlik_emulator, "")
    with QlikClient(site, CertificateAuth(user="alice", directory="QLIKEMU")) as client:
        answer = client.http.get(site.qrs_url("about"))  # no cert= or verify= needed
        assert answer.status_code == 200
        assert answer.request.headers["X-Qlik-User"] == "UserDirectory=QLIKEMU; UserId=alice"


def test_the_callers_own_cookies_travel_beside_the_session(
    qlik_emulator: EmulatorInfo, client: QlikClient
) -> None:
    auth = RequestsAuth(client)
    with client:
        answer = requests.get(
            client.site.proxy_url(""), auth=auth, verify=auth.verify, cookies={"mine": "1"}
        )
        # Both survive the same-site redirect (/hdr/ -> /hdr/hub/) that requests follows.
        assert [r.status_code for r in answer.history] == [302]
        sent = answer.request.headers.get("Cookie") or ""
        assert "mine=1" in sent
        assert f"{client.site.cookie_name}=" in sent


def test_verify_names_the_sites_root_for_requests(
    qlik_emulator: EmulatorInfo, client: QlikClient
) -> None:
    assert RequestsAuth(client).verify == str(qlik_emulator.root)
    system = QlikClient(Site("qlik.example.com"), HeaderAuth(user="nobody"))
    assert RequestsAuth(system).verify is True  # the system's trust store
