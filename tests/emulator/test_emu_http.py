"""The proxy and login module over plain http (``allow_http``): cookie names, redirects,
websockets and downloads, spoken by hand with requests and websockets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.typing import Origin

from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.wsclient import connect


def flags(set_cookie: str) -> tuple[str, set[str]]:
    name, _, rest = set_cookie.partition("=")
    return name, {f.strip() for f in rest.split(";")[1:]}


def test_plain_http_is_off_unless_allowed(qlik_emulator: EmulatorInfo) -> None:
    assert qlik_emulator["allow_http"] is False
    assert "proxy_http" not in qlik_emulator["ports"]
    assert "proxy_http_url" not in qlik_emulator.raw


def test_login_over_http_sets_the_http_cookie_without_secure(http_wire: Any) -> None:
    user = http_wire.new_user()
    response = http_wire.http("/hdr/hub/", headers={"header_user": user})
    assert response.status_code == 200
    name, cookie_flags = flags(response.headers["Set-Cookie"])
    assert name == "X-Qlik-Session-hdr-HTTP"
    assert cookie_flags == {"Path=/", "HttpOnly"}
    sid = response.cookies[name]
    me = http_wire.http("/hdr/qps/user", cookies={name: sid}).json()
    assert me["userId"] == user
    assert me["logoutUri"].startswith(http_wire.info["proxy_http_url"] + "/hdr/")


def test_each_scheme_has_its_own_same_site_setting(fresh_wire: Any, tmp_path: Path) -> None:
    from qlikauth.emulator.configfile import load_config

    config_file = tmp_path / "emu.toml"
    config_file.write_text(
        'allow_http = true\n[[virtual_proxies]]\nprefix = "hdr"\nsame_site = "None"\n'
    )
    config = load_config(config_file)
    wire = fresh_wire(allow_http=True, virtual_proxies=config.virtual_proxies)
    over_https = wire.proxy("GET", "/hdr/hub/", headers={"header_user": wire.new_user()})
    assert flags(over_https.headers["Set-Cookie"])[1] == {
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=None",
    }
    # SameSite=None without Secure is refused by browsers: the http cookie gets neither.
    over_http = wire.http("/hdr/hub/", headers={"header_user": wire.new_user()})
    assert flags(over_http.headers["Set-Cookie"])[1] == {"Path=/", "HttpOnly"}


def test_the_two_schemes_never_share_a_cookie_name(http_wire: Any) -> None:
    sid = http_wire.add_session("jwt", http_wire.new_user())
    https_name = http_wire.info.cookie_name("jwt")
    # The https cookie name over http is no session (the JWT proxy then asks for a token)...
    assert http_wire.http("/jwt/qps/csrftoken", cookies={https_name: sid}).status_code == 401
    # ...nor the http name over https; each scheme's own name is.
    assert (
        http_wire.proxy("GET", "/jwt/qps/csrftoken", cookies={f"{https_name}-HTTP": sid})
    ).status_code == 401
    answer = http_wire.http("/jwt/qps/csrftoken", cookies={f"{https_name}-HTTP": sid})
    assert answer.status_code == 204


def test_windows_login_over_http_goes_to_the_module_http_listener(http_wire: Any) -> None:
    response = http_wire.http("/hub/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == http_wire.info["auth_http_url"]
    assert location.path == "/internal_windows_authentication/"
    assert parse_qs(location.query)["targetId"][0]


def test_forms_login_over_http_comes_back_to_the_http_proxy(http_wire: Any) -> None:
    info = http_wire.info
    target_id = parse_qs(urlsplit(http_wire.http("/hub/").headers["Location"]).query)["targetId"]
    page = requests.get(
        f"{info['auth_http_url']}/internal_forms_authentication/",
        params={"targetId": target_id[0]},
        timeout=10,
    )
    assert page.status_code == 200, page.text
    action = re.search(r'action="([^"]+)"', page.text)
    token = re.search(r'name="__token" value="([^"]+)"', page.text)
    assert action and token
    posted = requests.post(
        info["auth_http_url"] + action.group(1).replace("&amp;", "&"),
        data={
            "username": f"{info.windows_domain}\\carol",
            "pwd": info.windows_password("carol"),
            "__token": token.group(1),
            "targetId": target_id[0],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 302, posted.text
    back = posted.headers["Location"]
    assert back.startswith(f"{info['proxy_http_url']}/hub/?qlikTicket=")
    landed = requests.get(back, allow_redirects=False, timeout=10)
    assert landed.status_code == 200
    assert flags(landed.headers["Set-Cookie"]) == ("X-Qlik-Session-HTTP", {"Path=/", "HttpOnly"})
    sid = landed.cookies["X-Qlik-Session-HTTP"]
    assert http_wire.qps("GET", f"/qps/session/{sid}").json()["UserId"] == "carol"


def ws_over_http(info: EmulatorInfo, cookie: str, token: str) -> ClientConnection:
    """A Nov-2024-style engine socket on ``hdr`` through the plain http proxy."""
    base = info["proxy_http_url"].replace("http://", "ws://")
    return connect(
        f"{base}/hdr/app/engineData?qlik-csrf-token={token}",
        origin=Origin(f"http://{info.host}"),
        additional_headers={"Cookie": cookie},
        proxy=None,
        legacy=True,  # websockets 17: connect directly, not as a context manager
        open_timeout=10,
        close_timeout=2,
    )


def test_forms_login_over_http_without_a_target_lands_on_the_http_hub(http_wire: Any) -> None:
    info = http_wire.info
    page = requests.get(f"{info['auth_http_url']}/internal_forms_authentication/", timeout=10)
    token = re.search(r'name="__token" value="([^"]+)"', page.text)
    assert token
    posted = requests.post(
        f"{info['auth_http_url']}/internal_forms_authentication/login",
        data={
            "username": f"{info.windows_domain}\\dave",
            "pwd": info.windows_password("dave"),
            "__token": token.group(1),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 302, posted.text
    assert posted.headers["Location"].startswith(f"{info['proxy_http_url']}/hub/?qlikTicket=")


def test_websocket_over_ws_with_the_http_cookie_and_an_http_origin(http_wire: Any) -> None:
    info = http_wire.info
    sid = http_wire.add_session("hdr", http_wire.new_user())
    name = f"{info.cookie_name('hdr')}-HTTP"
    token = http_wire.http("/hdr/qps/csrftoken", cookies={name: sid}).headers["qlik-csrf-token"]
    ws = ws_over_http(info, f"{name}={sid}", token)
    try:
        assert http_wire.recv(ws)["method"] == "OnConnected"
        q_url = http_wire.rpc(ws).export(info.app_id("Sales"))
    finally:
        ws.close()
    download = http_wire.http(f"/hdr{q_url}", cookies={name: sid})
    assert download.status_code == 200
    assert download.content.startswith(b"Country,Sum(Amount)\r\n")


def test_websocket_over_ws_without_the_http_cookie_is_refused(http_wire: Any) -> None:
    info = http_wire.info
    sid = http_wire.add_session("hdr", http_wire.new_user())
    token = http_wire.csrf("hdr", sid)  # a valid token, from the https side
    with pytest.raises(InvalidStatus) as refused:
        ws_over_http(info, f"{info.cookie_name('hdr')}={sid}", token)
    assert refused.value.response.status_code == 403
    assert b"no session cookie X-Qlik-Session-hdr-HTTP" in refused.value.response.body
