"""HTTP through the proxy against the emulator: statuses, headers and bodies passed on
faithfully, the tool's own identity stripped, Locations made local, failures explained."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from pathlib import Path

import pytest
import requests
from proxy_support import XRFKEY, curl_or_skip, new_user, proxied

from qlikauth.proxy import TOKEN_HEADER
from qlikauth.testing.emulator import EmulatorInfo


def qps_session(info: EmulatorInfo, prefix: str, user: str) -> str:
    """A proxy session made through QPS for another user, as an administrator would."""
    session_id = str(uuid.uuid4())
    answer = requests.post(
        f"{info.qps_url}/qps/{prefix}/session?xrfkey={XRFKEY}",
        headers={"X-Qlik-Xrfkey": XRFKEY},
        json={
            "UserDirectory": "QLIKEMU",
            "UserId": user,
            "Attributes": [],
            "SessionId": session_id,
        },
        cert=info.client_cert,
        verify=str(info.root),
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text
    return session_id


def test_statuses_headers_and_bodies_pass_through(qlik_emulator: EmulatorInfo) -> None:
    with proxied(qlik_emulator) as (client, proxy):
        missing = requests.get(proxy.url + "no/such/thing", headers=proxy.headers, timeout=10)
        direct = client.get("no/such/thing")
        csrf = requests.get(proxy.url + "qps/csrftoken", headers=proxy.headers, timeout=10)
        hub = requests.get(proxy.url + "hub/", headers=proxy.headers, timeout=10)
        head = requests.head(proxy.url + "hub/", headers=proxy.headers, timeout=10)
        token = client.credentials().csrf_token
    assert missing.status_code == direct.status == 404
    assert missing.content == direct.body
    assert missing.headers["Content-Type"] == direct.header("Content-Type")
    # A 204 with the session's CSRF token in a header: passed on as Qlik sent it.
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == str(len(hub.content))
    assert csrf.status_code == 204
    assert csrf.headers["qlik-csrf-token"] == token


def test_a_location_on_the_site_becomes_a_local_path(qlik_emulator: EmulatorInfo) -> None:
    with proxied(qlik_emulator) as (_client, proxy):
        answer = requests.get(proxy.url, headers=proxy.headers, allow_redirects=False, timeout=10)
        followed = requests.get(proxy.url, headers=proxy.headers, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/hub/"  # Qlik said https://localhost:PORT/hdr/hub/
    assert followed.status_code == 200
    assert followed.url == proxy.url + "hub/"


def test_the_prefix_in_a_path_is_not_added_twice(qlik_emulator: EmulatorInfo) -> None:
    user = new_user()
    with proxied(qlik_emulator, user) as (_client, proxy):
        answer = requests.get(proxy.url + "hdr/qps/user", headers=proxy.headers, timeout=10)
    assert answer.json()["userId"] == user


def test_the_tools_cookies_and_authorization_never_reach_qlik(
    qlik_emulator: EmulatorInfo,
) -> None:
    user, other = new_user(), new_user()
    others_session = qps_session(qlik_emulator, "hdr", other)
    cookie = f"{qlik_emulator.cookie_name('hdr')}={others_session}; theme=dark"
    with proxied(qlik_emulator, user) as (_client, proxy):
        answer = requests.get(
            proxy.url + "qps/user",
            headers={**proxy.headers, "Cookie": cookie, "Authorization": "Bearer not-ours"},
            timeout=10,
        )
    # Another user's live session cookie from the tool: the proxy's session answers.
    assert answer.status_code == 200
    assert answer.json()["userId"] == user


def test_a_large_request_body_streams_to_qlik(qlik_emulator: EmulatorInfo) -> None:
    sent = 0

    def body() -> object:
        nonlocal sent
        for _ in range(48):
            chunk = b"x" * (1 << 16)
            sent += len(chunk)
            yield chunk

    with proxied(qlik_emulator) as (client, proxy):
        answer = requests.post(
            proxy.url + "qrs/about", data=body(), headers=proxy.headers, timeout=30
        )
        direct = client.post("qrs/about", data=b"x" * (48 << 16))
    assert sent == 48 << 16  # more than the proxy keeps to resend, sent chunked
    # The emulator's QRS is read-only: Qlik's own answer to the POST comes back whole.
    assert (answer.status_code, answer.content) == (direct.status, direct.body)


def test_a_download_qlik_cuts_short_is_cut_short_for_the_tool(
    qlik_emulator_fresh: EmulatorInfo, tmp_path: Path
) -> None:
    info = qlik_emulator_fresh
    with proxied(info) as (client, proxy):
        table = client.open_app(info.app_id("Sales")).create_hypercube(["Region"], ["Sum(Amount)"])
        q_url = table.export_data("CSV_C")
        info.set_faults(truncate_downloads=True)
        headers = tmp_path / "headers"
        headers.write_text(f"{TOKEN_HEADER}: {proxy.token}\n")
        headers.chmod(0o600)
        fetched = subprocess.run(
            [curl_or_skip(), "-sS", "-H", f"@{headers}", "-o", str(tmp_path / "part"),
             proxy.url.rstrip("/") + q_url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    # curl's "partial file": the announced length did not arrive, as from Qlik itself.
    assert fetched.returncode == 18, fetched.stderr


def test_qlik_unreachable_is_a_clear_502(
    qlik_emulator_factory: object, caplog: pytest.LogCaptureFixture
) -> None:
    info = qlik_emulator_factory()  # type: ignore[operator]
    with proxied(info) as (_client, proxy):
        info.emulator.stop()
        answer = requests.get(proxy.url + "qps/user", headers=proxy.headers, timeout=30)
    assert answer.status_code == 502
    assert answer.text.startswith("qlikauth proxy: GET /qps/user did not reach Qlik")
    assert "could not talk to localhost" in answer.text
    assert "did not reach Qlik" in caplog.text


def connections_to(port: int) -> int:
    """Established TCP connections on this machine whose far end is ``port`` (Linux)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def test_connections_to_qlik_are_kept_alive(qlik_emulator_fresh: EmulatorInfo) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc/net/tcp to count connections")
    port = qlik_emulator_fresh["ports"]["proxy"]
    with proxied(qlik_emulator_fresh) as (_client, proxy), requests.Session() as tool:
        before = connections_to(port)  # the client's own, from its login
        for _ in range(30):
            answer = tool.get(proxy.url + "qrs/about", headers=proxy.headers, timeout=10)
            assert answer.status_code == 200
        after = connections_to(port)
    assert after - before == 1  # thirty requests, one connection to Qlik
