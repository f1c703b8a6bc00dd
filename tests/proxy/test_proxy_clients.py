"""Real third-party clients through the proxy, knowing nothing of Qlik authentication:
enigma.js on the engine websocket, curl on a download, ``requests`` on QRS, headless Chromium
on the hub, and the emulator counting one proxy session for all of them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from proxy_support import curl_or_skip, enigma, new_user, proxied, user_sessions

from qlikauth.proxy import TOKEN_HEADER, LocalProxy
from qlikauth.testing.emulator import EmulatorInfo

#: Run in a page: open the engine websocket on the page's own origin, return its first message.
OPEN_ENGINE_SOCKET = """() => new Promise((resolve, reject) => {
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/app/engineData");
    ws.onmessage = (event) => { resolve(event.data); ws.close(); };
    ws.onerror = () => reject(new Error("the websocket failed"));
})"""


def curl_download(proxy: LocalProxy, q_url: str, target: Path) -> subprocess.CompletedProcess[str]:
    """curl fetches ``q_url`` through the proxy; the token goes in a 0600 header file, not
    on the command line."""
    headers = target.parent / "curl-headers.txt"
    fd = os.open(headers, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{TOKEN_HEADER}: {proxy.token}\n")
    return subprocess.run(
        [curl_or_skip(), "-sS", "--fail", "-H", f"@{headers}", "-o", str(target),
         "-w", "%{http_code} %{size_download}", proxy.url.rstrip("/") + q_url],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("release", ["2024-05", "2024-11"])
def test_enigma_curl_requests_and_chromium_share_one_proxy_session(
    release: str,
    qlik_emulator_factory: Callable[..., EmulatorInfo],
    chromium: Callable[..., Any],
    tmp_path: Path,
) -> None:
    info = qlik_emulator_factory(release=release)
    user = new_user()
    with proxied(info, user) as (_client, proxy):
        # enigma.js, as configured by default: nothing but the local websocket URL (the
        # token is a query parameter).
        app = info.app_id("Sales")
        ran = enigma(proxy.websocket_url(app), app, "Sum(Amount)")
        assert ran.returncode == 0, ran.stderr
        result = json.loads(ran.stdout)
        assert result["value"] == "28510.9"
        assert result["qUrl"].startswith("/tempcontent/")

        # curl downloads the export enigma.js made (same user, same virtual proxy).
        target = tmp_path / "export.csv"
        fetched = curl_download(proxy, result["qUrl"], target)
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout.split()[0] == "200"
        rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
        assert rows[0] == ["Region", "Sum(Amount)"]
        assert len(rows) > 2

        # requests calls QRS through the proxy (which adds the Xrfkey QRS requires).
        about = requests.get(proxy.url + "qrs/about", headers=proxy.headers, timeout=10)
        assert about.status_code == 200
        assert about.json()["buildVersion"]
        apps = requests.get(proxy.url + "qrs/app", headers=proxy.headers, timeout=10)
        assert {a["name"] for a in apps.json()} >= {"Sales"}

        # Headless Chromium opens the hub; the token cookie then carries later pages.
        browser = chromium()
        context = browser.new_context()
        try:
            page = context.new_page()
            answer = page.goto(proxy.browser_url("hub/"))
            assert answer is not None and answer.status == 200
            assert f"Signed in as QLIKEMU\\{user}" in page.content()
            # The page's own websocket to the engine: the cookie and the page's Origin.
            greeting = page.evaluate(OPEN_ENGINE_SOCKET)
            assert json.loads(greeting)["method"] == "OnConnected"
            later = page.goto(proxy.url + "qps/user")
            assert later is not None and later.status == 200
            assert json.loads(page.inner_text("body"))["userId"] == user
        finally:
            context.close()

        counters = info.counters()
        assert counters["sessions_created"] == 1
        assert counters["websocket_connections"] == 2
        assert counters["downloads"] == 1
        assert len(user_sessions(info, "hdr", "QLIKEMU", user)) == 1


def test_a_browser_without_the_token_is_refused(
    qlik_emulator: EmulatorInfo, chromium: Callable[..., Any]
) -> None:
    with proxied(qlik_emulator) as (_client, proxy):
        context = chromium().new_context()
        try:
            answer = context.new_page().goto(proxy.url + "hub/")
            assert answer is not None and answer.status == 401
            assert "no access token" in answer.text()
        finally:
            context.close()
