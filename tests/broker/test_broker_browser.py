"""A real browser through the broker: headless Chromium opens the emulator's hub on the
``ticket`` virtual proxy, is sent to the broker, logs in as a Samba AD user with the
keyboard alone, and lands on the hub with a session whose attributes are the AD groups.

The login page's screenshot is kept in ``docs/broker-login.png`` (the README shows it); the
test takes it anew into its own folder and compares the two coarsely (it must render the
form, not match pixel for pixel). ``QLIKAUTH_UPDATE_SCREENSHOT=1`` writes the new one over
the kept one.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from broker_support import Stage

from qlikauth import QlikUser, QpsClient
from qlikauth.testing.emulator_info import site_from_emulator
from qlikauth.testing.samba import SambaDomainController

pytestmark = [pytest.mark.samba, pytest.mark.slow, pytest.mark.timeout(300)]

KEPT = Path(__file__).resolve().parents[2] / "docs" / "broker-login.png"
VIEWPORT = {"width": 800, "height": 600}

# Both images scaled to a coarse grey grid in the browser's own canvas: the mean difference
# per cell, the sizes, and the contrast of the new one (a blank page has none).
_COMPARE = """async ([kept, taken]) => {
  const load = (src) => new Promise((ok, fail) => {
    const image = new Image(); image.onload = () => ok(image); image.onerror = fail;
    image.src = src;
  });
  const grid = (image) => {
    const canvas = document.createElement("canvas"); canvas.width = 80; canvas.height = 60;
    const context = canvas.getContext("2d"); context.drawImage(image, 0, 0, 80, 60);
    const data = context.getImageData(0, 0, 80, 60).data; const grey = [];
    for (let i = 0; i < data.length; i += 4) grey.push((data[i] + data[i + 1] + data[i + 2]) / 3);
    return grey;
  };
  const [a, b] = await Promise.all([load(kept), load(taken)]);
  const [p, q] = [grid(a), grid(b)];
  let sum = 0; for (let i = 0; i < p.length; i++) sum += Math.abs(p[i] - q[i]);
  return {kept: [a.width, a.height], taken: [b.width, b.height], mean: sum / p.length,
          contrast: Math.max(...q) - Math.min(...q)};
}"""


def ldap_validator(dc: SambaDomainController) -> dict[str, Any]:
    return {
        "kind": "ldap",
        "url": dc.ldaps_url,
        "ca_file": str(dc.ca_file),
        "tls_server_name": dc.server_name,
    }


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_browser_logs_in_through_the_broker_as_an_ad_user(
    stage: Stage,
    samba_ad: SambaDomainController,
    chromium: Callable[..., Any],
    tmp_path: Path,
) -> None:
    alice = samba_ad.user("alice")
    browser = chromium(trusted=[stage.info.certs_dir / "server.pem"])
    context = browser.new_context(viewport=VIEWPORT)
    try:
        with stage.broker(validator=ldap_validator(samba_ad)):
            page = context.new_page()
            page.goto(f"{stage.info.proxy_url.rstrip('/')}/ticket/hub/")
            assert page.url.startswith(stage.url + "?")
            assert "targetId=" in page.url and "proxyRestUri=" in page.url
            assert page.get_by_label("User name").is_visible()
            assert page.get_by_label("Password").is_visible()
            taken = tmp_path / "broker-login.png"
            page.screenshot(path=str(taken))

            # Keyboard only: the user name field has the focus, Tab to the password, Enter.
            page.keyboard.type(alice.down_level)
            page.keyboard.press("Tab")
            page.keyboard.type("not-her-password")
            page.keyboard.press("Enter")
            alert = page.get_by_role("alert")
            alert.wait_for()
            assert "The user name or password is incorrect." in alert.inner_text()
            assert page.get_by_label("User name").input_value() == alice.down_level
            assert page.get_by_label("Password").input_value() == ""

            page.get_by_label("Password").fill(alice.password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{stage.info.proxy_url.rstrip('/')}/ticket/hub/**")
            assert "Signed in as CORP\\alice" in page.content()
            cookies = {c["name"]: c for c in context.cookies()}
            assert cookies[stage.info.cookie_name("ticket")]["value"]
    finally:
        context.close()

    site = site_from_emulator(stage.info.raw, "ticket")
    with QpsClient(site) as qps:
        sessions = qps.user_sessions(QlikUser("CORP", "alice"))
    assert len(sessions) == 1
    assert set(sessions[0].attributes) == {("Group", "Europe"), ("Group", "Sales")}
    assert [e["result"] for e in stage.audit()] == ["invalid_credentials", "success"]

    if os.environ.get("QLIKAUTH_UPDATE_SCREENSHOT"):
        shutil.copyfile(taken, KEPT)
    assert KEPT.is_file(), "no kept screenshot: run once with QLIKAUTH_UPDATE_SCREENSHOT=1"
    viewer = browser.new_page()
    try:
        found = viewer.evaluate(
            _COMPARE, [_data_url(KEPT.read_bytes()), _data_url(taken.read_bytes())]
        )
    finally:
        viewer.close()
    assert found["kept"] == found["taken"] == [VIEWPORT["width"], VIEWPORT["height"]]
    assert found["contrast"] > 100  # the card, its labels and its button are drawn
    assert found["mean"] < 12, found  # the same page, give or take fonts and antialiasing
