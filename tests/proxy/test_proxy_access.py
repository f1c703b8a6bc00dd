"""Who may use the proxy's session: the access token (header, query, cookie), the Host and
Origin checks, the Unix socket, the warnings of the unsafe options, and the log lines."""

from __future__ import annotations

import logging
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import requests
from proxy_support import curl_or_skip, new_user, proxied
from websockets.exceptions import InvalidStatus

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.errors import ConfigurationError
from qlikauth.proxy import TOKEN_HEADER, TOKEN_QUERY, LocalProxy
from qlikauth.testing.contract import emulator_site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.wsclient import connect


def test_a_request_without_the_token_is_refused_and_reaches_nobody(
    qlik_emulator_fresh: EmulatorInfo,
) -> None:
    info = qlik_emulator_fresh
    with proxied(info) as (_client, proxy):
        before = info.counters()
        answer = requests.get(proxy.url + "qps/user", timeout=10)
        wrong = requests.get(proxy.url + "qps/user", headers={TOKEN_HEADER: "x"}, timeout=10)
        wrong_query = requests.get(proxy.url + f"qps/user?{TOKEN_QUERY}=x", timeout=10)
        after = info.counters()
    assert answer.status_code == 401
    assert answer.text.startswith("qlikauth proxy: no access token")
    assert TOKEN_HEADER in answer.text
    assert wrong.status_code == 401
    assert "wrong" in wrong.text
    assert wrong_query.status_code == 401
    assert proxy.token is not None
    assert proxy.token not in answer.text + wrong.text
    # Nothing went to Qlik: no new session, no request refused there either.
    assert after["sessions_created"] == before["sessions_created"]


def test_a_websocket_without_the_token_is_refused(qlik_emulator: EmulatorInfo) -> None:
    with proxied(qlik_emulator) as (_client, proxy):
        url = proxy.websocket_url(qlik_emulator.app_id("Sales")).partition("?")[0]
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=10).close()
    assert refused.value.response.status_code == 401


def test_the_token_as_header_query_or_cookie(qlik_emulator: EmulatorInfo) -> None:
    user = new_user()
    with proxied(qlik_emulator, user) as (_client, proxy):
        assert proxy.token is not None
        by_header = requests.get(proxy.url + "qps/user", headers=proxy.headers, timeout=10)
        assert by_header.json()["userId"] == user
        assert "Set-Cookie" not in by_header.headers
        with requests.Session() as browser:
            first = browser.get(proxy.browser_url("qps/user"), timeout=10)
            assert first.json()["userId"] == user
            cookie = first.headers["Set-Cookie"]
            assert "HttpOnly" in cookie
            assert "SameSite=Strict" in cookie
            # The cookie alone carries the next request, as it does for a browser.
            later = browser.get(proxy.url + "qps/user", timeout=10)
            assert later.status_code == 200
            assert later.json()["userId"] == user


def test_the_cookie_alone_does_not_serve_other_web_origins(qlik_emulator: EmulatorInfo) -> None:
    with proxied(qlik_emulator) as (_client, proxy), requests.Session() as browser:
        browser.get(proxy.browser_url("qps/user"), timeout=10)
        own = browser.get(
            proxy.url + "qps/user", headers={"Origin": proxy.url.rstrip("/")}, timeout=10
        )
        other = browser.get(
            proxy.url + "qps/user", headers={"Origin": "https://evil.example"}, timeout=10
        )
        tool = requests.get(
            proxy.url + "qps/user",
            headers={**proxy.headers, "Origin": "https://evil.example"},
            timeout=10,
        )
    assert own.status_code == 200
    assert other.status_code == 403
    assert "another web origin" in other.text
    assert tool.status_code == 200  # a tool that shows the token may send any Origin


def test_a_foreign_host_is_refused(qlik_emulator_fresh: EmulatorInfo) -> None:
    info = qlik_emulator_fresh
    with proxied(info) as (_client, proxy):
        before = info.counters()
        rebound = requests.get(
            proxy.url + "qps/user", headers={**proxy.headers, "Host": "evil.example"}, timeout=10
        )
        # A tool that takes the proxy for a forward proxy names the other host in the target.
        raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        with raw, raw.makefile("rb") as stream:
            raw.sendall(
                b"GET http://evil.example/qps/user HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"{TOKEN_HEADER}: {proxy.token}\r\nConnection: close\r\n\r\n".encode()
            )
            forward = stream.read()
        after = info.counters()
        by_name = requests.get(
            f"http://localhost:{proxy.port}/qps/user", headers=proxy.headers, timeout=10
        )
    assert rebound.status_code == 403
    assert "answers only to its own address" in rebound.text
    assert forward.startswith(b"HTTP/1.1 403")
    assert after["sessions_created"] == before["sessions_created"]
    assert by_name.status_code == 200


def test_a_path_that_climbs_out_of_the_virtual_proxy_is_refused(
    qlik_emulator: EmulatorInfo,
) -> None:
    with proxied(qlik_emulator) as (_client, proxy):
        request = (
            b"GET /%2e%2e/jwt/qps/user HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"{TOKEN_HEADER}: {proxy.token}\r\nConnection: close\r\n\r\n".encode()
        )
        raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        with raw, raw.makefile("rb") as stream:
            raw.sendall(request)
            answer = stream.read()
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"'..' segments" in answer


def test_a_unix_socket_is_private_and_needs_no_token(
    qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    path = tmp_path / "qlik.sock"
    user = new_user()
    with proxied(qlik_emulator, user, unix_socket=path) as (_client, proxy):
        assert proxy.token is None
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        answer = subprocess.run(
            [curl_or_skip(), "-sS", "--fail", "--unix-socket", str(path),
             "http://localhost/qps/user"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    assert f'"userId": "{user}"' in answer.stdout
    assert not path.exists()


def test_a_stale_socket_is_replaced_and_anything_else_is_kept(
    qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    stale = tmp_path / "stale.sock"
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(stale))
    left.close()  # a socket file nobody listens on, as a killed proxy leaves it
    with proxied(qlik_emulator, unix_socket=stale):
        assert stat.S_IMODE(stale.stat().st_mode) == 0o600
    regular = tmp_path / "notes.txt"
    regular.write_text("mine")
    with (
        pytest.raises(ConfigurationError, match="not a socket"),
        proxied(qlik_emulator, unix_socket=regular),
    ):
        pass
    assert regular.read_text() == "mine"


def test_no_token_warns(qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, "qlikauth.proxy"),
        proxied(qlik_emulator, require_token=False) as (_client, proxy),
    ):
        answer = requests.get(proxy.url + "qps/user", timeout=10)
    assert answer.status_code == 200
    assert "no access token" in caplog.text
    assert "every local user and process" in caplog.text


def test_a_remote_address_needs_an_explicit_option_and_warns(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    site = emulator_site(qlik_emulator, "hdr")
    client = QlikClient(site, HeaderAuth(user=new_user()))
    with pytest.raises(ConfigurationError, match=r"refusing to listen on 0\.0\.0\.0") as refused:
        LocalProxy(client, host="0.0.0.0")  # noqa: S104
    assert refused.value.hint is not None and "--allow-remote" in refused.value.hint
    with caplog.at_level(logging.WARNING, "qlikauth.proxy"):
        LocalProxy(client, host="0.0.0.0", allow_remote=True)  # noqa: S104 - never started
    assert "other machines can reach the proxy" in caplog.text
    LocalProxy(client, host="::1")  # loopback is fine without the option
    client.close()


def test_one_log_line_per_request_without_secrets(
    qlik_emulator: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, "qlikauth.proxy"),
        proxied(qlik_emulator) as (client, proxy),
    ):
        caplog.clear()
        requests.get(proxy.browser_url("qrs/about"), timeout=10)
        requests.get(proxy.url + "nothing/here", headers=proxy.headers, timeout=10)
        credentials = client.credentials()
    lines = [r.getMessage() for r in caplog.records if r.name == "qlikauth.proxy"]
    assert len(lines) == 2
    assert lines[0].startswith("GET /qrs/about 200 ")
    assert " B " in lines[0] and lines[0].endswith(" ms")
    assert lines[1].startswith("GET /nothing/here 404 ")
    assert proxy.token is not None
    assert proxy.token not in caplog.text
    assert credentials.session_id is not None
    assert credentials.session_id not in caplog.text
