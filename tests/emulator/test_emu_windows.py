"""The internal authentication module: real NTLM / Negotiate over HTTP, and the forms login."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import spnego

WINDOWS_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"


def _login_location(wire: Any, path: str = "/hub/") -> str:
    start = wire.proxy("GET", path)
    assert start.status_code == 302
    return str(start.headers["Location"])


def _ntlm(
    wire: Any,
    location: str,
    user: str,
    password: str,
    *,
    scheme: str = "NTLM",
    protocol: str = "ntlm",
    fresh_connection_for_last_leg: bool = False,
) -> requests.Response:
    """The three legs over one kept-alive connection (unless told otherwise)."""
    client = spnego.client(user, password, hostname="localhost", service="http", protocol=protocol)
    headers = {"User-Agent": WINDOWS_UA}
    with requests.Session() as http:
        first = http.get(location, headers=headers, verify=wire.verify, allow_redirects=False)
        assert first.status_code == 401
        offered = first.headers.get("WWW-Authenticate", "")
        assert "NTLM" in offered and "Negotiate" in offered
        token = client.step()
        assert token is not None
        auth = {**headers, "Authorization": f"{scheme} {base64.b64encode(token).decode()}"}
        second = http.get(location, headers=auth, verify=wire.verify, allow_redirects=False)
        assert second.status_code == 401
        challenge = second.headers["WWW-Authenticate"]
        assert challenge.startswith(f"{scheme} ")
        token = client.step(base64.b64decode(challenge.split(" ", 1)[1]))
        assert token is not None
        auth = {**headers, "Authorization": f"{scheme} {base64.b64encode(token).decode()}"}
        if fresh_connection_for_last_leg:
            with requests.Session() as other:
                return other.get(location, headers=auth, verify=wire.verify, allow_redirects=False)
        return http.get(location, headers=auth, verify=wire.verify, allow_redirects=False)


@pytest.mark.parametrize(("scheme", "protocol"), [("NTLM", "ntlm"), ("Negotiate", "negotiate")])
def test_windows_login_redirects_back_with_a_ticket(wire: Any, scheme: str, protocol: str) -> None:
    location = _login_location(wire, "/hub/stream?x=1")
    domain = wire.info.windows_domain
    done = _ntlm(
        wire,
        location,
        f"{domain}\\alice",
        wire.info.windows_password("alice"),
        scheme=scheme,
        protocol=protocol,
    )
    assert done.status_code == 302, done.text
    back = done.headers["Location"]
    parts = urlsplit(back)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{wire.info.proxy_url}/hub/stream"
    query = parse_qs(parts.query)
    assert query["x"] == ["1"]
    landed = requests.get(back, verify=wire.verify, allow_redirects=False, timeout=10)
    assert landed.status_code == 200
    sid = landed.cookies["X-Qlik-Session"]
    me = wire.proxy("GET", "/qps/user", cookies={"X-Qlik-Session": sid}).json()
    assert (me["userDirectory"], me["userId"]) == (domain, "alice")
    # The shared emulator keeps Qlik's 5-session limit for the whole run: free the slot.
    assert wire.qps("DELETE", f"/qps/session/{sid}").status_code == 200


def test_windows_login_with_a_wrong_password_is_refused(wire: Any) -> None:
    location = _login_location(wire)
    done = _ntlm(wire, location, "QLIKEMU\\bob", "not-the-password")
    assert done.status_code == 401
    assert "Location" not in done.headers


def test_windows_login_of_an_unknown_user_is_refused(wire: Any) -> None:
    done = _ntlm(wire, _login_location(wire), "QLIKEMU\\mallory", "whatever")
    assert done.status_code == 401


def test_ntlm_state_belongs_to_the_connection(wire: Any) -> None:
    location = _login_location(wire)
    done = _ntlm(
        wire,
        location,
        "QLIKEMU\\alice",
        wire.info.windows_password("alice"),
        fresh_connection_for_last_leg=True,
    )
    assert done.status_code == 401


def test_non_windows_user_agent_goes_to_the_forms_login(wire: Any) -> None:
    location = _login_location(wire)
    redirected = requests.get(
        location,
        headers={"User-Agent": "python-requests"},
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert redirected.status_code == 302
    assert redirected.headers["Location"].startswith("/internal_forms_authentication/?targetId=")


def _form(wire: Any, location: str) -> tuple[str, dict[str, str]]:
    target_id = parse_qs(urlsplit(location).query)["targetId"][0]
    page = requests.get(
        f"{wire.info.auth_url}/internal_forms_authentication/",
        params={"targetId": target_id},
        verify=wire.verify,
        timeout=10,
    )
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="pwd"' in page.text
    action = re.search(r'action="([^"]+)"', page.text)
    token = re.search(r'name="__token" value="([^"]+)"', page.text)
    assert action and token
    return action.group(1).replace("&amp;", "&"), {
        "__token": token.group(1),
        "targetId": target_id,
    }


def test_forms_login_redirects_back_with_a_ticket(wire: Any) -> None:
    location = _login_location(wire, "/hub/")
    action, hidden = _form(wire, location)
    posted = requests.post(
        wire.info.auth_url + action,
        data={**hidden, "username": "QLIKEMU\\carol", "pwd": wire.info.windows_password("carol")},
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 302
    back = posted.headers["Location"]
    assert back.startswith(f"{wire.info.proxy_url}/hub/?qlikTicket=")
    landed = requests.get(back, verify=wire.verify, allow_redirects=False, timeout=10)
    assert landed.status_code == 200
    sid = landed.cookies["X-Qlik-Session"]
    assert wire.qps("GET", f"/qps/session/{sid}").json()["UserId"] == "carol"
    assert wire.qps("DELETE", f"/qps/session/{sid}").status_code == 200


@pytest.mark.parametrize(
    ("username", "password_of"),
    [("QLIKEMU\\carol", None), ("carol", "carol"), ("OTHER\\carol", "carol")],
    ids=["wrong-password", "no-domain", "wrong-domain"],
)
def test_forms_login_refusals(wire: Any, username: str, password_of: str | None) -> None:
    action, hidden = _form(wire, _login_location(wire))
    password = wire.info.windows_password(password_of) if password_of else "wrong"
    posted = requests.post(
        wire.info.auth_url + action,
        data={**hidden, "username": username, "pwd": password},
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 401
    assert "Invalid user name or password" in posted.text


def test_forms_login_needs_the_page_token(wire: Any) -> None:
    action, hidden = _form(wire, _login_location(wire))
    data = {"targetId": hidden["targetId"], "username": "QLIKEMU\\carol"}
    data["pwd"] = wire.info.windows_password("carol")
    posted = requests.post(
        wire.info.auth_url + action,
        data=data,
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 403
    # A token is single use.
    first = requests.post(
        wire.info.auth_url + action,
        data={**data, **hidden},
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert first.status_code == 302
    again = requests.post(
        wire.info.auth_url + action,
        data={**data, **hidden},
        verify=wire.verify,
        allow_redirects=False,
        timeout=10,
    )
    assert again.status_code == 403


def test_two_emulators_in_one_process_keep_their_own_windows_users(
    wire: Any, fresh_wire: Any
) -> None:
    import os

    from qlikauth.emulator.config import WindowsConfig, WindowsUser

    before = os.environ.get("NTLM_USER_FILE")
    other = fresh_wire(windows=WindowsConfig("OTHERDOM", (WindowsUser("zed", "Zed-Emu-9"),)))
    ok = _ntlm(other, _login_location(other), "OTHERDOM\\zed", "Zed-Emu-9")
    assert ok.status_code == 302
    # The shared emulator does not know zed, and the other one does not know alice.
    assert _ntlm(wire, _login_location(wire), "OTHERDOM\\zed", "Zed-Emu-9").status_code == 401
    alice = wire.info.windows_password("alice")
    assert _ntlm(other, _login_location(other), "QLIKEMU\\alice", alice).status_code == 401
    assert _ntlm(wire, _login_location(wire), "QLIKEMU\\alice", alice).status_code == 302
    assert os.environ.get("NTLM_USER_FILE") == before
