"""Release modes: what May 2024 and November 2024 answer differently, and the strict
readings of ``/qps/csrftoken``, tickets and the Personal API that hold in both."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.exceptions import InvalidStatus

from qlikauth.testing.emulator import EmulatorInfo


def _version(text: str) -> tuple[int, ...]:
    """A dotted version as numbers, compared as version parsers (LooseVersion) do."""
    return tuple(int(part) for part in text.split("."))


def _jwt(wire: Any, user: str) -> str:
    key = Path(wire.info.virtual_proxy("jwt")["jwt_private_key"]).read_bytes()
    exp = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    claims = {"userId": user, "userDirectory": "QLIKEMU", "exp": exp}
    return jwt.encode(claims, key, algorithm="RS256")


def _ticket(wire: Any, prefix: str, user: str) -> str:
    head = f"/{prefix}" if prefix else ""
    body = {"UserDirectory": "QLIKEMU", "UserId": user}
    return str(wire.qps("POST", f"/qps{head}/ticket", body).json()["Ticket"])


def _answer(response: Any) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers of a response, without the ones that vary per request."""
    headers = {
        k.lower(): v for k, v in response.headers.items() if k.lower() not in ("date", "server")
    }
    return response.status_code, response.text, headers


def test_info_and_fixture_name_the_release(qlik_emulator_release: EmulatorInfo) -> None:
    assert qlik_emulator_release.release in ("2024-05", "2024-11")
    assert qlik_emulator_release["release"] == qlik_emulator_release.release


def test_factory_takes_the_release(qlik_emulator_factory: Any) -> None:
    assert qlik_emulator_factory(release="2024-05").release == "2024-05"
    assert qlik_emulator_factory().release == "2024-11"


# -- /qps/csrftoken -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "hdr", "jwt", "ticket"])
def test_csrftoken_is_an_unknown_path_before_november_2024(may_wire: Any, prefix: str) -> None:
    wire = may_wire
    head = f"/{prefix}" if prefix else ""
    sid = wire.add_session(prefix, wire.new_user())
    for cookies in (wire.cookie(prefix, sid), None):
        token = wire.proxy("GET", f"{head}/qps/csrftoken", cookies=cookies)
        unknown = wire.proxy("GET", f"{head}/qps/nosuchresource", cookies=cookies)
        assert _answer(token) == _answer(unknown)
        assert "qlik-csrf-token" not in token.headers
    with_session = wire.proxy("GET", f"{head}/qps/csrftoken", cookies=wire.cookie(prefix, sid))
    assert with_session.status_code == 404  # what clients read as "no token needed"


def test_csrftoken_answers_a_live_session_cookie_only(wire: Any) -> None:
    user = wire.new_user()
    sid = wire.add_session("hdr", user)
    ok = wire.proxy("GET", "/hdr/qps/csrftoken", cookies=wire.cookie("hdr", sid))
    assert ok.status_code == 204
    assert ok.headers["qlik-csrf-token"]
    assert "Set-Cookie" not in ok.headers
    unknown = _answer(wire.proxy("GET", "/hdr/qps/nosuchresource"))
    assert unknown[0] == 401
    assert "X-Qlik-Session-hdr" in unknown[1]
    refused = {
        "no cookie": wire.proxy("GET", "/hdr/qps/csrftoken"),
        "dead cookie": wire.proxy(
            "GET", "/hdr/qps/csrftoken", cookies=wire.cookie("hdr", "0" * 36)
        ),
        "other proxy's cookie": wire.proxy(
            "GET", "/hdr/qps/csrftoken", cookies=wire.cookie("jwt", wire.add_session("jwt", user))
        ),
        "header credential": wire.proxy("GET", "/hdr/qps/csrftoken", headers={"header_user": user}),
    }
    for name, response in refused.items():
        assert _answer(response) == unknown, name
    assert len(wire.qps("GET", f"/qps/hdr/user/QLIKEMU/{user}").json()) == 1


def test_csrftoken_neither_takes_a_bearer_token_nor_redeems_a_ticket(wire: Any) -> None:
    user = wire.new_user()
    bearer = wire.proxy(
        "GET", "/jwt/qps/csrftoken", headers={"Authorization": f"Bearer {_jwt(wire, user)}"}
    )
    assert _answer(bearer) == _answer(wire.proxy("GET", "/jwt/qps/nosuchresource"))
    ticket = _ticket(wire, "ticket", user)
    redeemed = wire.proxy("GET", "/ticket/qps/csrftoken", params={"qlikTicket": ticket})
    assert redeemed.status_code == 401
    assert wire.qps("GET", f"/qps/jwt/user/QLIKEMU/{user}").json() == []
    # The ticket is still unused: an ordinary resource redeems it.
    hub = wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    assert hub.status_code == 200
    assert hub.cookies["X-Qlik-Session-ticket"]


def test_csrftoken_refuses_a_foreign_origin(wire: Any) -> None:
    sid = wire.add_session("hdr", wire.new_user())
    cookie = wire.cookie("hdr", sid)
    evil = wire.proxy(
        "GET", "/hdr/qps/csrftoken", cookies=cookie, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    assert "not in the virtual proxy's host allow list" in evil.text
    own = wire.proxy(
        "GET", "/hdr/qps/csrftoken", cookies=cookie, headers={"Origin": "https://localhost"}
    )
    assert own.status_code == 204


# -- tickets and the Personal API ---------------------------------------------------------


def test_personal_api_never_redeems_a_ticket(release_wire: Any) -> None:
    user = release_wire.new_user()
    ticket = _ticket(release_wire, "ticket", user)
    inactive = release_wire.proxy("GET", "/ticket/qps/user", params={"qlikTicket": ticket})
    assert inactive.json() == {"session": "inactive"}
    logout = release_wire.proxy("DELETE", "/ticket/qps/user", params={"qlikTicket": ticket})
    assert logout.status_code == 401
    assert release_wire.qps("GET", f"/qps/ticket/user/QLIKEMU/{user}").json() == []
    hub = release_wire.proxy("GET", "/ticket/hub/", params={"qlikTicket": ticket})
    assert hub.status_code == 200


@pytest.mark.parametrize("resource", ["hub/", "qrs/about", "no/such/resource"])
def test_tickets_are_redeemed_on_any_ordinary_resource(release_wire: Any, resource: str) -> None:
    user = release_wire.new_user()
    key = release_wire.xrfkey()
    response = release_wire.proxy(
        "GET",
        f"/ticket/{resource}",
        params={"qlikTicket": _ticket(release_wire, "ticket", user), "xrfkey": key},
        headers={"X-Qlik-Xrfkey": key},
    )
    sid = response.cookies["X-Qlik-Session-ticket"]
    me = release_wire.proxy(
        "GET", "/ticket/qps/user", cookies=release_wire.cookie("ticket", sid)
    ).json()
    assert me["userId"] == user
    release_wire.qps("DELETE", f"/qps/ticket/session/{sid}")


# -- QRS about and the engine's versions ----------------------------------------------------


def _about(wire: Any, prefix: str) -> dict[str, Any]:
    sid = wire.add_session(prefix, wire.new_user())
    key = wire.xrfkey()
    proxied = wire.proxy(
        "GET",
        f"/{prefix}/qrs/about?xrfkey={key}",
        cookies=wire.cookie(prefix, sid),
        headers={"X-Qlik-Xrfkey": key},
    )
    assert proxied.status_code == 200, proxied.text
    direct = wire.qps("GET", "/qrs/about", base=wire.info.qrs_url)
    assert direct.json() == proxied.json()
    about: dict[str, Any] = proxied.json()
    return about


def test_qrs_about_has_the_shape_of_a_real_answer(release_wire: Any) -> None:
    about = _about(release_wire, "hdr")
    assert list(about) == [
        "buildVersion",
        "buildDate",
        "databaseProvider",
        "nodeType",
        "sharedPersistence",
        "requiresBootstrap",
        "singleNodeOnly",
        "schemaPath",
    ]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", about["buildVersion"])
    # qsAPI refuses servers older than its minimum and switches APIs at 17.0 (LooseVersion).
    assert _version(about["buildVersion"]) > _version("17.0")
    dt.datetime.strptime(about["buildDate"], "%m/%d/%Y %I:%M:%S %p")
    assert about["schemaPath"] == "About"
    assert about["nodeType"] == 1


def test_each_release_has_its_own_versions(may_wire: Any, wire: Any) -> None:
    may, november = may_wire, wire
    assert _version(_about(may, "hdr")["buildVersion"]) < _version(
        _about(november, "hdr")["buildVersion"]
    )
    versions = []
    for wire in (may, november):
        ws = wire.ws_direct()
        try:
            wire.recv(ws)
            rpc = wire.rpc(ws)
            engine = rpc.call("EngineVersion")["result"]["qVersion"]["qComponentVersion"]
            product = rpc.call("ProductVersion")["result"]["qReturn"]
        finally:
            ws.close()
        versions.append((_version(engine), _version(product)))
    assert versions[0][0] < versions[1][0]
    assert versions[0][1] < versions[1][1]


def test_proxied_qrs_needs_an_xrfkey(release_wire: Any) -> None:
    sid = release_wire.add_session("hdr", release_wire.new_user())
    response = release_wire.proxy("GET", "/hdr/qrs/about", cookies=release_wire.cookie("hdr", sid))
    assert response.status_code == 403
    assert response.text == "XSRF prevention check failed. Possible XSRF discovered."


# -- websockets before November 2024 ------------------------------------------------------


def test_may_2024_socket_needs_no_token_and_no_origin(may_wire: Any) -> None:
    wire = may_wire
    sid = wire.add_session("hdr", wire.new_user())
    for origin in (None, "https://evil.example"):
        ws = wire.ws_proxy("hdr", sid=sid, origin=origin)
        try:
            assert wire.recv(ws)["method"] == "OnConnected"
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "GetDocList"}))
            info = wire.recv(ws)
            assert info["method"] == "OnAuthenticationInformation"
            assert info["params"]["mustAuthenticate"] is False
            assert wire.recv(ws)["result"]["qDocList"]
        finally:
            ws.close()


def test_november_2024_socket_without_token_is_refused(wire: Any) -> None:
    sid = wire.add_session("hdr", wire.new_user())
    with pytest.raises(InvalidStatus) as refused:
        wire.ws_proxy("hdr", sid=sid, origin="https://localhost")
    assert refused.value.response.status_code == 403
