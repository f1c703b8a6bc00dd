"""QPS on its mutual-TLS port: Xrfkey, tickets, sessions, users (qlik-protocol.md §1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from qlikauth.testing.clock import ManualClock

XRF_TEXT = "XSRF prevention check failed. Possible XSRF discovered."


def _raw_qps(wire: Any, path: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(
        wire.info.qps_url + path,
        headers=headers,
        cert=wire.cert,
        verify=wire.verify,
        timeout=10,
    )


@pytest.mark.parametrize(
    ("query", "header"),
    [
        ("", None),
        ("?xrfkey=abcdefghijklmnop", None),
        ("", "abcdefghijklmnop"),
        ("?xrfkey=abcdefghijklmnop", "abcdefghijklmnoq"),
        ("?xrfkey=short", "short"),
        ("?xrfkey=abcdefghijklmno!", "abcdefghijklmno!"),
    ],
    ids=["none", "query-only", "header-only", "mismatch", "too-short", "bad-characters"],
)
def test_wrong_xrfkey_is_403_with_qlik_text(wire: Any, query: str, header: str | None) -> None:
    headers = {"X-Qlik-Xrfkey": header} if header is not None else {}
    response = _raw_qps(wire, "/qps/session" + query, headers)
    assert response.status_code == 403
    assert response.text == XRF_TEXT


def test_xrfkey_query_name_is_case_insensitive(wire: Any) -> None:
    key = wire.xrfkey()
    response = _raw_qps(wire, f"/qps/session?Xrfkey={key}", {"X-Qlik-Xrfkey": key})
    assert response.status_code == 200
    assert isinstance(response.json(), list)


def test_ticket_response_shape_trims_and_keeps_attributes(wire: Any) -> None:
    attributes = [{"Group": "Sales"}, {"Group": "EU"}, {"Email": ""}]
    response = wire.qps(
        "POST",
        "/qps/ticket/ticket",
        {"UserDirectory": "  QLIKEMU ", "UserId": " alice  ", "Attributes": attributes},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["UserDirectory"] == "QLIKEMU"
    assert body["UserId"] == "alice"
    assert body["Attributes"] == attributes
    assert len(body["Ticket"]) == 16
    assert body["TargetUri"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"UserDirectory": "QLIKEMU", "UserId": "dom\\alice"},
        {"UserDirectory": "QLIK\\EMU", "UserId": "alice"},
        {"UserDirectory": "QLIKEMU", "UserId": "   "},
        # Trimmed, a tab would go; the emulator refuses it first (control characters, inferred).
        {"UserDirectory": "QLIKEMU", "UserId": " alice\t"},
        {"UserDirectory": "", "UserId": "alice"},
        {"UserId": "alice"},
        {"UserDirectory": "QLIKEMU", "UserId": "alice", "Attributes": {"Group": "x"}},
    ],
    ids=[
        "backslash-userid",
        "backslash-dir",
        "blank-userid",
        "tab-userid",
        "empty-dir",
        "no-dir",
        "attrs",
    ],
)
def test_ticket_body_validation(wire: Any, body: dict[str, Any]) -> None:
    response = wire.qps("POST", "/qps/ticket/ticket", body)
    assert response.status_code == 400
    assert "Invalid ticket request" in response.text


def test_session_body_rejects_backslash_in_userid(wire: Any) -> None:
    response = wire.qps(
        "POST", "/qps/hdr/session", {"UserDirectory": "QLIKEMU", "UserId": "QLIKEMU\\bob"}
    )
    assert response.status_code == 400
    assert "backslash" in response.text


def _ticket(wire: Any, prefix: str, user: str, target_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"UserDirectory": "QLIKEMU", "UserId": user, "Attributes": []}
    if target_id:
        body["TargetId"] = target_id
    head = f"/{prefix}" if prefix else ""
    response = wire.qps("POST", f"/qps{head}/ticket", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_ticket_sets_the_cookie_and_serves_the_resource(wire: Any) -> None:
    user = wire.new_user()
    ticket = _ticket(wire, "ticket", user)["Ticket"]
    response = wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    assert response.status_code == 200
    cookie = response.cookies.get("X-Qlik-Session-ticket")
    assert cookie
    again = wire.proxy("GET", "/ticket/qps/user", cookies={"X-Qlik-Session-ticket": cookie})
    assert again.json()["userId"] == user


def test_ticket_parameter_name_is_case_insensitive(wire: Any) -> None:
    ticket = _ticket(wire, "ticket", wire.new_user())["Ticket"]
    response = wire.proxy("GET", "/ticket/hub/", params={"QlikTicket": ticket})
    assert response.status_code == 200
    assert "X-Qlik-Session-ticket" in response.cookies


def test_ticket_reused_lands_on_the_login_redirect(wire: Any) -> None:
    ticket = _ticket(wire, "ticket", wire.new_user())["Ticket"]
    first = wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    assert first.status_code == 200
    second = wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    assert second.status_code == 302
    assert "targetId=" in second.headers["Location"]
    assert "X-Qlik-Session-ticket" not in second.cookies


def test_ticket_is_bound_to_its_virtual_proxy(wire: Any) -> None:
    ticket = _ticket(wire, "ticket", wire.new_user())["Ticket"]
    elsewhere = wire.proxy("GET", "/hub/", params={"qlikTicket": ticket})
    assert elsewhere.status_code == 302
    assert "internal_windows_authentication" in elsewhere.headers["Location"]
    # Not consumed by the failed attempt: its own proxy still takes it.
    assert wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket}).status_code == 200


def test_ticket_after_its_lifetime_is_refused(fresh_wire: Any, manual_clock: ManualClock) -> None:
    wire = fresh_wire(clock=manual_clock)  # Qlik's lifetime: 60 s
    ticket = _ticket(wire, "ticket", wire.new_user())["Ticket"]
    manual_clock.advance(61)
    response = wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    assert response.status_code == 302
    assert "X-Qlik-Session-ticket" not in response.cookies


def test_ticket_flow_with_target_id_returns_target_uri(wire: Any) -> None:
    start = wire.proxy("GET", "/ticket/hub/stream/everyone", params={"sheet": "1"})
    assert start.status_code == 302
    location = urlsplit(start.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}" == wire.info.auth_url
    assert query["proxyRestUri"] == [f"{wire.info.qps_url}/qps/ticket/"]
    target_id = query["targetId"][0]
    issued = _ticket(wire, "ticket", wire.new_user(), target_id)
    assert issued["TargetUri"] == f"{wire.info.proxy_url}/ticket/hub/stream/everyone?sheet=1"
    back = requests.get(
        issued["TargetUri"],
        params={"QlikTicket": issued["Ticket"]},
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert back.status_code == 200
    assert "X-Qlik-Session-ticket" in back.cookies


def test_session_api_add_get_list_delete(wire: Any) -> None:
    user = wire.new_user()
    attributes = [{"Group": "Finance"}]
    sid = wire.add_session("hdr", user, attributes=attributes)
    one = wire.qps("GET", f"/qps/hdr/session/{sid}")
    assert one.status_code == 200
    assert one.json() == {
        "UserDirectory": "QLIKEMU",
        "UserId": user,
        "Attributes": attributes,
        "SessionId": sid,
    }
    listed = wire.qps("GET", "/qps/hdr/session").json()
    assert sid in [s["SessionId"] for s in listed]
    assert (
        wire.proxy("GET", "/hdr/qps/user", cookies=wire.cookie("hdr", sid)).json()["userId"] == user
    )
    deleted = wire.qps("DELETE", f"/qps/hdr/session/{sid}")
    assert deleted.status_code == 200
    assert deleted.json()["SessionId"] == sid
    assert deleted.json()["lastSessionForUser"] is True
    assert wire.qps("GET", f"/qps/hdr/session/{sid}").status_code == 404
    gone = wire.proxy("GET", "/hdr/qps/user", cookies=wire.cookie("hdr", sid))
    assert gone.json() == {"session": "inactive"}


def test_session_without_prefix_belongs_to_the_default_virtual_proxy(wire: Any) -> None:
    user = wire.new_user()
    sid = wire.add_session("", user)
    assert wire.proxy("GET", "/hub/", cookies={"X-Qlik-Session": sid}).status_code == 200
    assert wire.qps("GET", f"/qps/hdr/session/{sid}").status_code == 404


def test_duplicate_session_id_is_refused(wire: Any) -> None:
    user = wire.new_user()
    sid = wire.add_session("hdr", user)
    again = wire.qps(
        "POST",
        "/qps/hdr/session",
        {"UserDirectory": "QLIKEMU", "UserId": user, "SessionId": sid},
    )
    assert again.status_code == 409


def test_unknown_virtual_proxy_is_404(wire: Any) -> None:
    response = wire.qps("GET", "/qps/nosuchproxy/session")
    assert response.status_code == 404


def test_user_api_lists_and_logs_out_one_proxy_only(wire: Any) -> None:
    user = wire.new_user()
    hdr = [wire.add_session("hdr", user), wire.add_session("hdr", user)]
    jwt_sid = wire.add_session("jwt", user)
    listed = wire.qps("GET", f"/qps/hdr/user/QLIKEMU/{user}").json()
    assert sorted(s["SessionId"] for s in listed) == sorted(hdr)
    removed = wire.qps("DELETE", f"/qps/hdr/user/QLIKEMU/{user}").json()
    assert sorted(s["SessionId"] for s in removed) == sorted(hdr)
    assert wire.qps("GET", f"/qps/hdr/user/QLIKEMU/{user}").json() == []
    assert wire.qps("GET", f"/qps/jwt/session/{jwt_sid}").status_code == 200


# The limit at the login itself is the "login" option; by default the websocket refuses
# (tests/emulator/test_emu_limit.py).


def test_sixth_parallel_session_is_refused(fresh_wire: Any) -> None:
    wire = fresh_wire(session_limit="login")
    user = wire.new_user()
    for prefix in ("hdr", "hdr", "jwt", "", "ticket"):
        wire.add_session(prefix, user)
    sixth = wire.qps("POST", "/qps/hdr/session", {"UserDirectory": "QLIKEMU", "UserId": user})
    assert sixth.status_code == 403
    assert "SessionCount: '5'" in sixth.text
    # Another user is not affected.
    wire.add_session("hdr", wire.new_user())


def test_sixth_session_through_the_proxy_is_refused(fresh_wire: Any) -> None:
    wire = fresh_wire(session_limit="login")
    user = wire.new_user()
    for _ in range(5):
        ok = wire.proxy("GET", "/hdr/hub/", headers={"header_user": user})
        assert ok.status_code == 200
    sixth = wire.proxy("GET", "/hdr/hub/", headers={"header_user": user})
    assert sixth.status_code == 403
    assert "SessionCount: '5'" in sixth.text
    assert "X-Qlik-Session-hdr" not in sixth.cookies


def test_ticket_beyond_the_limit_is_refused_on_consumption(fresh_wire: Any) -> None:
    wire = fresh_wire(session_limit="login")
    user = wire.new_user()
    for _ in range(5):
        wire.add_session("ticket", user)
    ticket = _ticket(wire, "ticket", user)["Ticket"]
    response = wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    assert response.status_code == 403
    assert "SessionCount" in response.text


def test_camel_case_keys_are_accepted(wire: Any) -> None:
    user = wire.new_user()
    response = wire.qps(
        "POST",
        "/qps/hdr/session",
        {"userDirectory": "QLIKEMU", "userId": user, "sessionId": "11111111"},
    )
    assert response.status_code == 201
    assert response.json()["SessionId"] == "11111111"
    assert wire.proxy("GET", "/hdr/hub/", cookies=wire.cookie("hdr", "11111111")).ok
    wire.qps("DELETE", "/qps/hdr/session/11111111")
