"""The broker end to end over real sockets: the emulator's ticket virtual proxy sends the
browser, the broker checks the password (NTLM against the emulator's Windows virtual proxy),
requests the ticket from QPS and sends the browser back; and every refusal."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from broker_support import SECRET, ConnectionRecorder, Stage, login_link, query

from qlikauth import QlikUser, QpsClient
from qlikauth.broker.csrf import FormTokens
from qlikauth.logfilter import SecretFilter
from qlikauth.testing.emulator_info import site_from_emulator

pytestmark = pytest.mark.timeout(120)


def qps_sessions(stage: Stage, user: str) -> list[tuple[tuple[str, str], ...]]:
    site = site_from_emulator(stage.info.raw, "ticket")
    with QpsClient(site) as qps:
        return [s.attributes for s in qps.user_sessions(QlikUser(stage.info.windows_domain, user))]


def test_from_the_hub_to_the_broker_and_back_with_a_session(stage: Stage) -> None:
    link = login_link(stage.info)
    assert link.startswith(stage.url)
    with stage.broker():
        client = stage.client()
        page = client.open(link)
        assert page.status_code == 200
        assert client.form["targetId"] == query(link)["targetId"][0]
        password = stage.info.windows_password("bob")
        answer = client.submit("QLIKEMU\\bob", password)
        assert answer.status_code == 303
        location = answer.headers["Location"]
        assert location.startswith(stage.info.proxy_url.rstrip("/") + "/ticket/hub/")
        assert "qlikTicket" in parse_qs(urlsplit(location).query)
        hub = client.get(location)
        assert hub.status_code == 200 and "QLIKEMU\\bob" in hub.text
        cookie = stage.info.cookie_name("ticket")
        assert client.http.cookies.get(cookie)
        assert len(qps_sessions(stage, "bob")) == 1
    entries = stage.audit()
    assert entries[-1]["result"] == "success"
    assert entries[-1]["user"] == "QLIKEMU\\bob"
    assert set(entries[-1]) >= {"time", "user", "result", "client", "virtual_proxy"}


def test_the_page_and_its_headers(stage: Stage) -> None:
    with stage.broker():
        client = stage.client()
        page = client.open(stage.url)
        headers = page.headers
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert f"form-action 'self' {stage.info.proxy_url.rstrip('/')}" in csp
        assert '<label for="user">' in page.text and '<label for="password">' in page.text
        assert "<script" not in page.text
        set_cookie = headers["Set-Cookie"]
        assert set_cookie.startswith("__Host-qlikauth-form=")
        assert all(part in set_cookie for part in ("HttpOnly", "Secure", "SameSite=Strict"))
        style = client.get(stage.url + "broker.css")
        assert style.headers["Content-Type"].startswith("text/css")
        assert client.get(stage.url + "healthz").text == "ok\n"


def test_a_visit_without_target_id_ends_on_the_hub(stage: Stage) -> None:
    with stage.broker():
        client = stage.client()
        client.open(stage.url)
        assert "targetId" not in client.form
        answer = client.submit("QLIKEMU\\alice", stage.info.windows_password("alice"))
        assert answer.status_code == 303
        location = answer.headers["Location"]
        assert location.startswith(stage.info.proxy_url.rstrip("/") + "/ticket/hub/?qlikTicket=")
        assert "Signed in as QLIKEMU\\alice" in client.get(location).text


def test_a_wrong_password_and_an_unknown_user_get_the_same_page(stage: Stage) -> None:
    with stage.broker():
        pages = []
        for user in ("QLIKEMU\\carol", "QLIKEMU\\nobody"):
            client = stage.client()
            client.open(login_link(stage.info))
            answer = client.submit(user, "not-the-password")
            assert answer.status_code == 401
            assert "The user name or password is incorrect." in answer.text
            pages.append(answer.text.replace(client.form["csrf"], "TOKEN"))
            pages[-1] = pages[-1].replace(client.form["targetId"], "TARGET")
        assert pages[0].replace("carol", "USER") == pages[1].replace("nobody", "USER")
    results = [(e["user"], e["result"]) for e in stage.audit()]
    assert results == [
        ("QLIKEMU\\carol", "invalid_credentials"),
        ("QLIKEMU\\nobody", "invalid_credentials"),
    ]


def test_a_proxy_rest_uri_not_configured_is_refused_and_never_contacted(stage: Stage) -> None:
    recorder = ConnectionRecorder()
    try:
        link = login_link(stage.info)
        target_id = query(link)["targetId"][0]
        foreign = f"https://127.0.0.1:{recorder.port}/qps/ticket/"
        with stage.broker():
            client = stage.client()
            refused = client.open(f"{stage.url}?targetId={target_id}&proxyRestUri={foreign}")
            assert refused.status_code == 400
            assert "does not come from a Qlik Sense server" in refused.text
            assert "csrf" not in client.form
            # A forged form for that proxyRestUri, with the right password, is refused too.
            client.open(link)
            answer = client.submit(
                "QLIKEMU\\bob", stage.info.windows_password("bob"), proxyRestUri=foreign
            )
            assert answer.status_code == 400
        assert recorder.accepted == 0
    finally:
        recorder.close()
    refusals = [e for e in stage.audit() if e["result"] == "refused"]
    assert [e["reason"] for e in refusals] == ["unknown_proxy_rest_uri"] * 2
    assert refusals[0]["ref"] in refused.text
    assert refusals[1]["user"] == "QLIKEMU\\bob"


@pytest.mark.parametrize(
    ("target_id", "reason"),
    [
        (None, "missing_target_id"),
        ("<script>", "malformed_target_id"),
        ("a" * 129, "malformed_target_id"),
        ("two&targetId=ids", "malformed_target_id"),
    ],
)
def test_a_missing_or_malformed_target_id_is_refused(
    stage: Stage, target_id: str | None, reason: str
) -> None:
    rest = query(login_link(stage.info))["proxyRestUri"][0]
    url = f"{stage.url}?proxyRestUri={rest}"
    if target_id is not None:
        url += f"&targetId={target_id}"
    with stage.broker():
        refused = stage.client().open(url)
    assert refused.status_code == 400
    assert "<script>" not in refused.text
    assert stage.audit()[-1]["reason"] == reason


def test_forms_without_or_with_a_bad_or_stale_token_are_refused(stage: Stage) -> None:
    with stage.broker():
        client = stage.client()
        link = login_link(stage.info)
        client.open(link)
        password = stage.info.windows_password("dave")
        missing = client.submit("QLIKEMU\\dave", password, csrf=None)
        assert missing.status_code == 403
        assert "expired or was already used" in missing.text
        other = stage.client()  # another browser's token: its cookie is not ours
        other.open(link)
        assert client.submit("QLIKEMU\\dave", password, csrf=other.form["csrf"]).status_code == 403
        cookie = client.http.cookies.get("__Host-qlikauth-form")
        assert cookie
        old = FormTokens(SECRET.encode(), lifetime=600, clock=lambda: time.time() - 3600)
        target = f"localhost/ticket\n{client.form['proxyRestUri']}\n{client.form['targetId']}"
        stale = client.submit("QLIKEMU\\dave", password, csrf=old.issue(cookie, target))
        assert stale.status_code == 403
        fine = client.submit("QLIKEMU\\dave", password)
        assert fine.status_code == 303
    reasons = [e.get("reason") for e in stage.audit()]
    assert reasons[:3] == ["csrf_missing", "csrf_invalid", "csrf_stale"]


def test_a_replayed_form_is_refused(stage: Stage) -> None:
    with stage.broker():
        client = stage.client()
        client.open(login_link(stage.info))
        form = dict(client.form)
        first = client.submit("QLIKEMU\\carol", "wrong")
        assert first.status_code == 401
        client.form = form
        replay = client.submit("QLIKEMU\\carol", stage.info.windows_password("carol"))
        assert replay.status_code == 403
        assert "already used" in replay.text
    assert stage.audit()[-1]["reason"] == "csrf_replayed"


def test_the_user_limit_stops_wrong_passwords_before_the_directory(stage: Stage) -> None:
    with stage.broker(limits={"per_user": 2, "per_address": 50}):
        client = stage.client()
        client.open(login_link(stage.info))
        for _ in range(2):
            assert client.submit("QLIKEMU\\carol", "wrong").status_code == 401
        refused = client.submit("qlikemu\\Carol", stage.info.windows_password("carol"))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert "Too many failed logins" in refused.text
        other = client.submit("QLIKEMU\\dave", stage.info.windows_password("dave"))
        assert other.status_code == 303
    assert [e["result"] for e in stage.audit()] == [
        "invalid_credentials",
        "invalid_credentials",
        "rate_limited",
        "success",
    ]


def test_the_address_limit_counts_each_client_address(stage: Stage) -> None:
    with stage.broker(limits={"per_user": 5, "per_address": 2}):
        sprayer = stage.client(source="127.0.0.2")
        sprayer.open(login_link(stage.info))
        for user in ("u1", "u2"):
            assert sprayer.submit(f"QLIKEMU\\{user}", "wrong").status_code == 401
        assert sprayer.submit("QLIKEMU\\u3", "wrong").status_code == 429
        neighbour = stage.client(source="127.0.0.3")
        neighbour.open(login_link(stage.info))
        assert neighbour.submit("QLIKEMU\\u4", "wrong").status_code == 401
    clients = [(e["client"], e["result"]) for e in stage.audit()]
    assert clients[-2:] == [("127.0.0.2", "rate_limited"), ("127.0.0.3", "invalid_credentials")]


def test_forwarded_for_counts_only_from_trusted_proxies(stage: Stage) -> None:
    with stage.broker(trusted_proxies=["127.0.0.5"], limits={"per_address": 1}):
        proxy = stage.client(source="127.0.0.5")
        proxy.http.headers["X-Forwarded-For"] = "203.0.113.7"
        proxy.open(login_link(stage.info))
        assert proxy.submit("QLIKEMU\\u5", "wrong").status_code == 401
        proxy.http.headers["X-Forwarded-For"] = "198.51.100.9, 127.0.0.5"
        assert proxy.submit("QLIKEMU\\u6", "wrong").status_code == 401
        stranger = stage.client(source="127.0.0.6")
        stranger.http.headers["X-Forwarded-For"] = "192.0.2.1"
        stranger.open(login_link(stage.info))
        assert stranger.submit("QLIKEMU\\u7", "wrong").status_code == 401
        stranger.http.headers["X-Forwarded-For"] = "192.0.2.2"
        assert stranger.submit("QLIKEMU\\u8", "wrong").status_code == 429
    clients = [e["client"] for e in stage.audit()]
    assert clients == ["203.0.113.7", "198.51.100.9", "127.0.0.6", "127.0.0.6"]


def test_no_password_ticket_or_session_id_in_any_log(
    stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    # The handler the command line logs through (-v, -vv): libraries' DEBUG lines (urllib3's
    # request lines) are masked by its SecretFilter; qlikauth's own lines carry no secret.
    caplog.handler.addFilter(SecretFilter())
    caplog.set_level(logging.DEBUG)
    with stage.broker():
        client = stage.client()
        client.open(login_link(stage.info))
        password = stage.info.windows_password("alice")
        assert client.submit("QLIKEMU\\alice", "Wrong-Pass-Word-1").status_code == 401
        answer = client.submit("QLIKEMU\\alice", password)
        ticket = parse_qs(urlsplit(answer.headers["Location"]).query)["qlikTicket"][0]
        client.get(answer.headers["Location"])
        session_id = client.http.cookies.get(stage.info.cookie_name("ticket"))
        assert session_id
    everything = caplog.text + stage.audit_file.read_text(encoding="utf-8")
    assert "login of 'QLIKEMU\\\\alice'" in caplog.text  # the log does talk about logins
    for secret in (password, "Wrong-Pass-Word-1", ticket, session_id, client.form["csrf"]):
        assert secret not in everything
