"""Qlik's enigma.js reads every result from the emulator, with the delta protocol (its
default) and without it, in both release modes: the engine's delta answers are right."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

_TESTS = Path(__file__).resolve().parents[1]
_NODE_MODULES = _TESTS / "node" / "node_modules"
_SCRIPT = Path(__file__).with_name("node") / "enigma_reads_every_result.js"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Node.js runs Qlik's enigma.js)")
    if not (_NODE_MODULES / "enigma.js").is_dir() or not (_NODE_MODULES / "ws").is_dir():
        pytest.skip("tests/node/node_modules is missing: npm ci --prefix tests/node")
    return node


def _without_ids(value: Any) -> Any:
    """The value with engine-made object ids blanked (they differ between two runs)."""
    if isinstance(value, dict):
        return {k: "<id>" if k == "qId" else _without_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def test_enigma_reads_every_result_with_and_without_delta(release_wire: Any) -> None:
    node = _node()
    wire = release_wire
    sales = wire.info.app_id("Sales")
    sid = wire.add_session("hdr", wire.new_user())
    url = wire.ws_url("hdr", f"app/{sales}")
    if wire.info.release == "2024-11":
        url += f"?qlik-csrf-token={wire.csrf('hdr', sid)}"
    env = {
        **os.environ,
        "NODE_PATH": str(_NODE_MODULES),
        "QLIK_URL": url,
        "QLIK_COOKIE": f"{wire.info.cookie_name('hdr')}={sid}",
        "QLIK_ORIGIN": f"https://{wire.info.host}",
        "QLIK_CA": str(wire.info.root),
        "QLIK_APP": sales,
    }
    done = subprocess.run(
        [node, str(_SCRIPT)], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)
    delta, plain = runs["default"], runs["noDelta"]
    # enigma.js asked for deltas by default, and every answer said it carried them.
    assert delta["traffic"]["sentDelta"] > 10
    assert delta["traffic"]["receivedDelta"] == delta["traffic"]["sentDelta"]
    assert plain["traffic"] == {"sentDelta": 0, "receivedDelta": 0}
    del delta["traffic"], plain["traffic"]
    assert _without_ids(delta) == _without_ids(plain)
    # And what it read is the engine's answer, not a patch list.
    assert delta["evaluate"] == "28510.9" and delta["evaluateAgain"] == "36"
    assert delta["docList"] == sorted(app["id"] for app in wire.info.apps)
    assert delta["layoutStable"] is True
    assert delta["pageTop"][0]["qArea"] == {"qLeft": 0, "qTop": 0, "qWidth": 3, "qHeight": 2}
    assert delta["pageNext"][0]["qArea"]["qTop"] == 2
    assert delta["pageTopAgain"] == delta["pageTop"]
    assert delta["pageNext"][0]["qMatrix"][0] != delta["pageTop"][0]["qMatrix"][0]
    assert delta["otherLayoutMatrix"] == delta["layoutMatrix"]
    assert delta["destroyed"] is True
