"""The proxy: virtual proxies, cookies, redirects, header and JWT auth, Personal API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from qlikauth.testing.clock import ManualClock


def test_unauthenticated_get_on_windows_proxy_redirects_to_the_module(wire: Any) -> None:
    response = wire.proxy("GET", "/hub/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == wire.info.auth_url
    assert location.path == "/internal_windows_authentication/"
    assert parse_qs(location.query)["targetId"][0]


def test_unauthenticated_get_on_ticket_proxy_redirects_to_the_external_module(wire: Any) -> None:
    response = wire.proxy("GET", "/ticket/hub/")
    assert response.status_code == 302
    location = response.headers["Location"]
    module = wire.info.virtual_proxy("ticket")["auth_module_uri"]
    assert location.startswith(module + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["proxyRestUri"] == [f"{wire.info.qps_url}/qps/ticket/"]
    assert query["targetId"][0]


def test_default_auth_module_says_none_is_configured(wire: Any) -> None:
    location = wire.proxy("GET", "/ticket/hub/").headers["Location"]
    import requests

    page = requests.get(location, verify=wire.verify, timeout=10)
    assert page.status_code == 501
    assert "No external authentication module" in page.text


def test_unauthenticated_post_is_not_redirected(wire: Any) -> None:
    response = wire.proxy("POST", "/hub/")
    assert response.status_code == 401
    assert "must be a GET" in response.text


def test_session_cookie_sent_as_header_authenticates_nothing(wire: Any) -> None:
    sid = wire.add_session("", wire.new_user())
    response = wire.proxy("GET", "/hub/", headers={"X-Qlik-Session": sid})
    assert response.status_code == 302
    assert "internal_windows_authentication" in response.headers["Location"]
    # The same id as a cookie works: the header was the only mistake.
    assert wire.proxy("GET", "/hub/", cookies={"X-Qlik-Session": sid}).status_code == 200


@pytest.mark.parametrize(
    ("session_prefix", "cookie_name", "path", "expected"),
    [
        ("hdr", "X-Qlik-Session-hdr", "/hub/", 302),
        ("hdr", "X-Qlik-Session", "/hub/", 302),
        ("hdr", "X-Qlik-Session-hdr", "/ticket/hub/", 302),
        ("hdr", "X-Qlik-Session-ticket", "/ticket/hub/", 302),
        ("", "X-Qlik-Session", "/jwt/hub/", 401),
        ("jwt", "X-Qlik-Session", "/hub/", 302),
    ],
)
def test_wrong_virtual_proxy_cookie_is_not_a_session(
    wire: Any, session_prefix: str, cookie_name: str, path: str, expected: int
) -> None:
    sid = wire.add_session(session_prefix, wire.new_user())
    response = wire.proxy("GET", path, cookies={cookie_name: sid})
    assert response.status_code == expected
    assert response.cookies.get(cookie_name) is None


def test_cookie_flags(wire: Any) -> None:
    response = wire.proxy("GET", "/hdr/hub/", headers={"header_user": wire.new_user()})
    set_cookie = response.headers["Set-Cookie"]
    name, _, rest = set_cookie.partition("=")
    assert name == "X-Qlik-Session-hdr"
    flags = {f.strip() for f in rest.split(";")[1:]}
    assert flags == {"Path=/", "Secure", "HttpOnly"}


def test_same_site_follows_configuration(fresh_wire: Any, tmp_path: Path) -> None:
    from qlikauth.emulator.configfile import load_config

    config_file = tmp_path / "emu.toml"
    config_file.write_text('[[virtual_proxies]]\nprefix = "hdr"\nsame_site = "None"\n')
    config = load_config(config_file)
    wire = fresh_wire(virtual_proxies=config.virtual_proxies)
    response = wire.proxy("GET", "/hdr/hub/", headers={"header_user": "alice"})
    assert "SameSite=None" in response.headers["Set-Cookie"]


def _whoami(wire: Any, prefix: str, sid: str) -> Any:
    """The personal API's answer for a session cookie."""
    head = f"/{prefix}" if prefix else ""
    return wire.proxy("GET", f"{head}/qps/user", cookies=wire.cookie(prefix, sid)).json()


def test_static_header_authentication(wire: Any) -> None:
    user = wire.new_user()
    first = wire.proxy("GET", "/hdr/hub/", headers={"header_user": user})
    assert first.status_code == 200
    sid = first.cookies["X-Qlik-Session-hdr"]
    assert _whoami(wire, "hdr", sid)["userDirectory"] == "QLIKEMU"
    assert _whoami(wire, "hdr", sid)["userId"] == user
    # The cookie alone keeps the session.
    later = wire.proxy("GET", "/hdr/hub/", cookies={"X-Qlik-Session-hdr": sid})
    assert later.status_code == 200
    assert "Set-Cookie" not in later.headers


def test_personal_api_knows_only_the_cookie(wire: Any) -> None:
    # The Personal API relies on the session cookie (§1.1): a header logs nobody in there.
    user = wire.new_user()
    response = wire.proxy("GET", "/hdr/qps/user", headers={"header_user": user})
    assert response.json() == {"session": "inactive"}
    assert "Set-Cookie" not in response.headers
    assert wire.qps("GET", f"/qps/hdr/user/QLIKEMU/{user}").json() == []


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("$ud\\\\$id", "OTHERDIR\\{user}", ("OTHERDIR", "{user}")),
        ("$id@$ud", "{user}@corp.example", ("corp.example", "{user}")),
    ],
    ids=["qmc-backslash", "id-at-directory"],
)
def test_dynamic_header_follows_the_configured_pattern(
    fresh_wire: Any, pattern: str, value: str, expected: tuple[str, str]
) -> None:
    import dataclasses

    from qlikauth.emulator.config import default_config

    vps = tuple(
        dataclasses.replace(vp, header_pattern=pattern) if vp.prefix == "hdrdyn" else vp
        for vp in default_config().virtual_proxies
    )
    wire = fresh_wire(virtual_proxies=vps)
    assert wire.info.virtual_proxy("hdrdyn")["header_pattern"] == pattern
    user = wire.new_user()
    response = wire.proxy("GET", "/hdrdyn/hub/", headers={"header_user": value.format(user=user)})
    assert response.status_code == 200, response.text
    me = _whoami(wire, "hdrdyn", response.cookies["X-Qlik-Session-hdrdyn"])
    assert (me["userDirectory"], me["userId"]) == (expected[0], expected[1].format(user=user))


@pytest.mark.parametrize(
    "value",
    ["{user}", "OTHERDIR\\\\{user}", "A\\B\\{user}", "\\{user}", "OTHERDIR/{user}"],
    ids=["no-directory", "two-backslashes", "ambiguous", "blank-directory", "slash"],
)
def test_dynamic_header_that_does_not_fit_the_pattern_is_401(wire: Any, value: str) -> None:
    user = wire.new_user()
    bad = wire.proxy("GET", "/hdrdyn/hub/", headers={"header_user": value.format(user=user)})
    assert bad.status_code == 401
    assert bad.text.startswith("Header authentication (header_user): ")
    assert "X-Qlik-Session-hdrdyn" not in bad.cookies
    assert wire.qps("GET", f"/qps/hdrdyn/user/OTHERDIR/{user}").json() == []


def test_dynamic_header_default_pattern_is_the_qmc_form(wire: Any) -> None:
    assert wire.info.virtual_proxy("hdrdyn")["header_pattern"] == "$ud\\\\$id"
    bad = wire.proxy("GET", "/hdrdyn/hub/", headers={"header_user": "OTHERDIR"})
    assert "does not match the pattern $ud\\\\$id (for example DIRECTORY\\user)" in bad.text


def test_header_proxy_without_header_is_401(wire: Any) -> None:
    response = wire.proxy("GET", "/hdr/hub/")
    assert response.status_code == 401
    assert "header_user" in response.text


def test_personal_api_and_logout_scope(wire: Any) -> None:
    user = wire.new_user()
    hdr_a = wire.add_session("hdr", user)
    hdr_b = wire.add_session("hdr", user)
    other = wire.add_session("jwt", user)
    info = wire.proxy("GET", "/hdr/qps/user", cookies=wire.cookie("hdr", hdr_a)).json()
    assert info == {
        "userDirectory": "QLIKEMU",
        "userId": user,
        "userName": user,
        "logoutUri": f"{wire.info.proxy_url}/hdr/qps/user",
    }
    out = wire.proxy("DELETE", "/hdr/qps/user", cookies=wire.cookie("hdr", hdr_a))
    assert out.status_code == 200
    for sid in (hdr_a, hdr_b):
        gone = wire.proxy("GET", "/hdr/qps/user", cookies=wire.cookie("hdr", sid))
        assert gone.json() == {"session": "inactive"}
    still = wire.proxy("GET", "/jwt/qps/user", cookies=wire.cookie("jwt", other))
    assert still.json()["userId"] == user


def test_personal_api_login_uri_only_for_allowed_target(wire: Any) -> None:
    good = wire.proxy("GET", "/qps/user", params={"targetUri": "https://localhost/hub/"}).json()
    assert good["session"] == "inactive"
    assert good["loginUri"].startswith(wire.info.auth_url + "/internal_windows_authentication/")
    bad = wire.proxy("GET", "/qps/user", params={"targetUri": "https://evil.example/"}).json()
    assert bad == {"session": "inactive"}


def test_csrftoken_is_204_with_header_per_session(wire: Any) -> None:
    user = wire.new_user()
    a, b = wire.add_session("hdr", user), wire.add_session("hdr", user)
    token_a = wire.csrf("hdr", a)
    assert token_a == wire.csrf("hdr", a)
    assert token_a != wire.csrf("hdr", b)


def test_hub_page_lists_the_apps(wire: Any) -> None:
    sid = wire.add_session("hdr", wire.new_user())
    page = wire.proxy("GET", "/hdr/hub/", cookies=wire.cookie("hdr", sid))
    assert page.headers["Content-Type"].startswith("text/html")
    for app in wire.info.apps:
        assert app["id"] in page.text


def test_inactivity_timeout_ends_the_session(fresh_wire: Any, manual_clock: ManualClock) -> None:
    wire = fresh_wire(session_timeout=60.0, clock=manual_clock)
    sid = wire.add_session("hdr", "alice")
    for _ in range(3):
        manual_clock.advance(40)  # activity within the timeout keeps it alive
        assert wire.proxy("GET", "/hdr/hub/", cookies=wire.cookie("hdr", sid)).status_code == 200
    manual_clock.advance(61)
    assert wire.proxy("GET", "/hdr/hub/", cookies=wire.cookie("hdr", sid)).status_code == 401
    assert wire.qps("GET", "/qps/hdr/session").json() == []


def test_unknown_prefix_falls_to_the_default_proxy(wire: Any) -> None:
    response = wire.proxy("GET", "/nosuchproxy/hub/")
    assert response.status_code == 302
    assert "internal_windows_authentication" in response.headers["Location"]


# -- JWT ---------------------------------------------------------------------------------


def _key(wire: Any) -> bytes:
    return Path(wire.info.virtual_proxy("jwt")["jwt_private_key"]).read_bytes()


def _claims(user: str, **extra: Any) -> dict[str, Any]:
    return {"userId": user, "userDirectory": "QLIKEMU", "groups": ["Sales", "EU"], **extra}


def _jwt_get(wire: Any, token: str) -> Any:
    return wire.proxy("GET", "/jwt/hub/", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_jwt_valid_creates_a_session(wire: Any, algorithm: str) -> None:
    user = wire.new_user()
    now = dt.datetime.now(dt.UTC)
    token = jwt.encode(
        _claims(user, exp=now + dt.timedelta(minutes=5)), _key(wire), algorithm=algorithm
    )
    response = _jwt_get(wire, token)
    assert response.status_code == 200, response.text
    sid = response.cookies["X-Qlik-Session-jwt"]
    assert _whoami(wire, "jwt", sid)["userId"] == user
    session = wire.qps("GET", f"/qps/jwt/session/{sid}").json()
    # The default jwt proxy maps the groups claim to Group (its configured mapping).
    assert session["Attributes"] == [{"Group": "Sales"}, {"Group": "EU"}]


def test_jwt_without_exp_is_accepted(wire: Any) -> None:
    token = jwt.encode(_claims(wire.new_user()), _key(wire), algorithm="RS256")
    assert _jwt_get(wire, token).status_code == 200


def _other_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_jwt_rejections_say_which_check_failed(wire: Any) -> None:
    user = wire.new_user()
    key = _key(wire)
    now = dt.datetime.now(dt.UTC)
    unsigned = jwt.encode(_claims(user), None, algorithm="none")  # type: ignore[arg-type]
    cases = {
        "expired": (
            jwt.encode(_claims(user, exp=now - dt.timedelta(minutes=5)), key, algorithm="RS256"),
            "expired",
        ),
        "not-yet-valid": (
            jwt.encode(_claims(user, nbf=now + dt.timedelta(minutes=5)), key, algorithm="RS256"),
            "not yet valid",
        ),
        "unsigned": (unsigned, "algorithm 'none' is not allowed"),
        "hs256": (
            jwt.encode(_claims(user), "a-shared-secret-of-32-bytes-len!", algorithm="HS256"),
            "algorithm 'HS256' is not allowed",
        ),
        "other-key": (
            jwt.encode(_claims(user), _other_key(), algorithm="RS256"),
            "signature does not verify",
        ),
        "missing-user": (
            jwt.encode({"userDirectory": "QLIKEMU"}, key, algorithm="RS256"),
            "claim 'userId'",
        ),
        "wrong-claim-names": (
            jwt.encode({"user": user, "directory": "QLIKEMU"}, key, algorithm="RS256"),
            "claim 'userId'",
        ),
        "garbage": ("not.a.jwt", "malformed"),
    }
    for name, (token, reason) in cases.items():
        response = _jwt_get(wire, token)
        assert response.status_code == 401, name
        assert reason in response.text, (name, response.text)
        assert "X-Qlik-Session-jwt" not in response.cookies, name


def test_jwt_small_clock_skew_is_tolerated(wire: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    token = jwt.encode(
        _claims(wire.new_user(), exp=now - dt.timedelta(seconds=5)), _key(wire), algorithm="RS256"
    )
    assert _jwt_get(wire, token).status_code == 200


def test_jwt_claim_names_and_attributes_follow_configuration(
    fresh_wire: Any, tmp_path: Path
) -> None:
    from qlikauth.emulator.configfile import load_config

    config_file = tmp_path / "emu.toml"
    config_file.write_text(
        '[[virtual_proxies]]\nprefix = "jwt"\n'
        'jwt_claims = { user = "sub", directory = "dir" }\n'
        'jwt_attribute_mapping = [{ claim = "roles", attribute = "Role" },'
        ' { claim = "mail", attribute = "Email", mandatory = true }]\n'
    )
    wire = fresh_wire(virtual_proxies=load_config(config_file).virtual_proxies)
    vp = wire.info.virtual_proxy("jwt")
    assert vp["jwt_claims"] == {"user": "sub", "directory": "dir"}
    assert [r["claim"] for r in vp["jwt_attribute_mapping"]] == ["roles", "mail"]
    claims = {"sub": "alice", "dir": "QLIKEMU", "roles": ["Admin", "Ops"], "mail": "a@x"}
    good = jwt.encode({**claims, "groups": ["Sales"]}, _key(wire), "RS256")
    response = _jwt_get(wire, good)
    assert response.status_code == 200
    sid = response.cookies["X-Qlik-Session-jwt"]
    assert _whoami(wire, "jwt", sid)["userId"] == "alice"
    # Only mapped claims become attributes: "groups" is not mapped here.
    assert wire.qps("GET", f"/qps/jwt/session/{sid}").json()["Attributes"] == [
        {"Role": "Admin"},
        {"Role": "Ops"},
        {"Email": "a@x"},
    ]
    no_mail = jwt.encode({"sub": "alice", "dir": "QLIKEMU"}, _key(wire), "RS256")
    refused = _jwt_get(wire, no_mail)
    assert refused.status_code == 401
    assert "mandatory claim 'mail' (attribute 'Email') is missing" in refused.text
    numeric = jwt.encode({**claims, "roles": 7}, _key(wire), "RS256")
    assert "must be a string or a list of strings" in _jwt_get(wire, numeric).text
    old_names = jwt.encode(_claims("alice"), _key(wire), algorithm="RS256")
    assert "claim 'sub'" in _jwt_get(wire, old_names).text


def test_jwt_proxy_without_mapping_keeps_no_attributes(fresh_wire: Any) -> None:
    import dataclasses

    from qlikauth.emulator.config import default_config

    vps = tuple(
        dataclasses.replace(vp, jwt_attribute_mapping=()) if vp.prefix == "jwt" else vp
        for vp in default_config().virtual_proxies
    )
    wire = fresh_wire(virtual_proxies=vps)
    token = jwt.encode(_claims("alice"), _key(wire), algorithm="RS256")
    sid = _jwt_get(wire, token).cookies["X-Qlik-Session-jwt"]
    assert wire.qps("GET", f"/qps/jwt/session/{sid}").json()["Attributes"] == []


def test_jwt_proxy_without_token_is_401(wire: Any) -> None:
    response = wire.proxy("GET", "/jwt/hub/")
    assert response.status_code == 401
    assert "Bearer" in response.text


def test_anonymous_always_gives_an_anonymous_session(fresh_wire: Any) -> None:
    import dataclasses

    from qlikauth.emulator.config import default_config

    vps = tuple(
        dataclasses.replace(vp, anonymous="always") if vp.prefix == "ticket" else vp
        for vp in default_config().virtual_proxies
    )
    wire = fresh_wire(virtual_proxies=vps)
    response = wire.proxy("GET", "/ticket/hub/")
    assert response.status_code == 200
    body = _whoami(wire, "ticket", response.cookies["X-Qlik-Session-ticket"])
    assert body["userDirectory"] == "NONE"
    assert body["userId"].startswith("anonymous")


def test_info_file_is_private_json_with_every_listener(wire: Any) -> None:
    import json
    import stat

    path = Path(wire.info["info_file"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    on_disk = json.loads(path.read_text())
    assert on_disk["proxy_url"] == wire.info.proxy_url
    assert set(on_disk["ports"]) == {"proxy", "qps", "qrs", "engine", "auth"}
    assert len(set(on_disk["ports"].values())) == 5


def test_jwt_login_on_a_resource_then_csrftoken_then_websocket(wire: Any) -> None:
    user = wire.new_user()
    token = jwt.encode(_claims(user), _key(wire), algorithm="RS256")
    key = wire.xrfkey()
    about = wire.proxy(
        "GET",
        f"/jwt/qrs/about?xrfkey={key}",
        headers={"Authorization": f"Bearer {token}", "X-Qlik-Xrfkey": key},
    )
    assert about.status_code == 200, about.text
    sid = about.cookies["X-Qlik-Session-jwt"]
    csrf = wire.csrf("jwt", sid)
    ws = wire.ws_proxy("jwt", sid=sid, token=csrf, origin="https://localhost")
    try:
        assert wire.recv(ws)["method"] == "OnConnected"
        me = wire.rpc(ws).call("GetAuthenticatedUser")
        assert me["result"]["qReturn"] == f"UserDirectory=QLIKEMU; UserId={user}"
    finally:
        ws.close()
