"""tempcontent downloads: the seed article's failing recipe, §2.10's correct one, and the rules."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import requests


def _export_through(wire: Any, prefix: str, user: str, app_id: str, **kw: Any) -> tuple[str, str]:
    """Export over a proxied socket on ``prefix``; (session id, qUrl)."""
    sid, ws = wire.ws_session(prefix, user, f"app/{app_id}")
    try:
        wire.recv(ws)
        return sid, wire.rpc(ws).export(app_id, **kw)
    finally:
        ws.close()


def _export_direct(wire: Any, user: str, app_id: str) -> str:
    ws = wire.ws_direct(f"app/{app_id}", user=f"UserDirectory=QLIKEMU; UserId={user}")
    try:
        wire.recv(ws)
        return str(wire.rpc(ws).export(app_id))
    finally:
        ws.close()


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_seed_article_failing_recipe_lands_on_the_login_redirect(wire: Any, sales_id: str) -> None:
    user = wire.new_user()
    q_url = _export_direct(wire, user, sales_id)
    key = "1234567890123457"
    headers = {
        "X-Qlik-User": f"UserDirectory=QLIKEMU;UserId={user}",
        "X-Qlik-XrfKey": key,
    }
    body = {"UserDirectory": "QLIKEMU", "UserId": user, "Attributes": [], "SessionId": "11111111"}
    # 1. The session "added" on the proxy's port, where /qps/ is only the Personal API.
    posted = requests.post(
        f"{wire.info.proxy_url}/qps/session?xrfkey={key}",
        json=body,
        headers=headers,
        cert=wire.cert,
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert not posted.ok
    # 2. The download with the id in a request header, no prefix, no cookie.
    got = requests.get(
        f"{wire.info.proxy_url}{q_url}&xrfkey={key}",
        headers={**headers, "X-Qlik-Session": "11111111"},
        cert=wire.cert,
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert got.status_code == 302
    assert "/internal_windows_authentication/?targetId=" in got.headers["Location"]


def test_seed_recipe_even_with_a_real_session_still_redirects(wire: Any, sales_id: str) -> None:
    user = wire.new_user()
    q_url = _export_direct(wire, user, sales_id)
    sid = wire.add_session("", user)  # the right API this time, but sent as a header
    got = wire.proxy("GET", q_url, headers={"X-Qlik-Session": sid})
    assert got.status_code == 302
    assert "internal_windows_authentication" in got.headers["Location"]


def test_correct_recipe_of_section_2_10(wire: Any, sales_id: str) -> None:
    user = wire.new_user()
    q_url = _export_direct(wire, user, sales_id)
    assert q_url.startswith("/tempcontent/") and "?serverNodeId=" in q_url
    sid = str(uuid.uuid4())
    key = wire.xrfkey()
    created = requests.post(
        f"{wire.info.qps_url}/qps/hdr/session?xrfkey={key}",
        json={"UserDirectory": "QLIKEMU", "UserId": user, "Attributes": [], "SessionId": sid},
        headers={"X-Qlik-Xrfkey": key, "Content-Type": "application/json"},
        cert=wire.cert,
        verify=wire.verify,
        timeout=10,
    )
    assert created.status_code == 201
    got = requests.get(
        f"{wire.info.proxy_url}/hdr{q_url}",
        cookies={"X-Qlik-Session-hdr": sid},
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert got.status_code == 200, got.text
    assert got.headers["Content-Type"].startswith("text/csv")
    rows = _rows(got.text)
    assert rows[0] == ["Country", "Sum(Amount)"]
    assert len(rows) == 8  # the header and the seven countries of the Sales app
    deleted = wire.qps("DELETE", f"/qps/hdr/session/{sid}")
    assert deleted.status_code == 200


def test_proxied_export_only_for_its_user_and_prefix(wire: Any, sales_id: str) -> None:
    user = wire.new_user()
    sid, q_url = _export_through(wire, "hdr", user, sales_id)
    own = wire.proxy("GET", f"/hdr{q_url}", cookies=wire.cookie("hdr", sid))
    assert own.status_code == 200
    assert _rows(own.text)[0] == ["Country", "Sum(Amount)"]
    # Same user, another virtual proxy: the export was made through /hdr.
    jwt_sid = wire.add_session("jwt", user)
    elsewhere = wire.proxy("GET", f"/jwt{q_url}", cookies=wire.cookie("jwt", jwt_sid))
    assert elsewhere.status_code == 404
    # Another user on the same virtual proxy.
    other_sid = wire.add_session("hdr", wire.new_user())
    other = wire.proxy("GET", f"/hdr{q_url}", cookies=wire.cookie("hdr", other_sid))
    assert other.status_code == 404
    # Without the prefix the default (Windows) proxy asks for a login.
    bare = wire.proxy("GET", q_url, cookies=wire.cookie("hdr", sid))
    assert bare.status_code == 302


def test_direct_export_is_served_on_any_proxy_of_the_same_user(wire: Any, sales_id: str) -> None:
    user = wire.new_user()
    q_url = _export_direct(wire, user, sales_id)
    for prefix in ("hdr", "jwt", ""):
        sid = wire.add_session(prefix, user)
        head = f"/{prefix}" if prefix else ""
        got = wire.proxy("GET", f"{head}{q_url}", cookies=wire.cookie(prefix, sid))
        assert got.status_code == 200, prefix


def test_serve_once_export_is_gone_after_one_download(wire: Any, sales_id: str) -> None:
    user = wire.new_user()
    sid, q_url = _export_through(wire, "hdr", user, sales_id, serve_once=True)
    first = wire.proxy("GET", f"/hdr{q_url}", cookies=wire.cookie("hdr", sid))
    assert first.status_code == 200
    second = wire.proxy("GET", f"/hdr{q_url}", cookies=wire.cookie("hdr", sid))
    assert second.status_code == 404


def test_unknown_export_is_404(wire: Any) -> None:
    sid = wire.add_session("hdr", wire.new_user())
    got = wire.proxy(
        "GET", f"/hdr/tempcontent/{uuid.uuid4()}/x.csv", cookies=wire.cookie("hdr", sid)
    )
    assert got.status_code == 404
