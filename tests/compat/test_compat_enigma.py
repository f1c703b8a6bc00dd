"""Qlik's enigma.js (the locked tests/node set) judging the emulator and qlikauth.

In enigma.js's default configuration (the delta protocol on) and with delta off; direct to the
engine with the client certificate, and through the proxy with every authenticator, the node
script running under ``qlikauth exec``. Each reads the doc list and evaluates an expression in
the Sales app, and must read what qlikauth's own engine connector reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from compat_support import (
    APP,
    EXPRESSION,
    HERE,
    NODE_MODULES,
    PROXY_AUTHENTICATORS,
    Cli,
    CompatSite,
    EngineAnswers,
    engine_reference,
    run_process,
)

PROBE = HERE / "enigma_probe.js"
#: enigma.js's default (delta on), and delta off (``protocol: { delta: false }``).
MODES = ("delta", "nodelta")


def _short(value: Any) -> str:
    return json.dumps(value)[:300]


def _doc_list(value: Any, reference: EngineAnswers) -> str | None:
    if not isinstance(value, list) or not all(isinstance(d, dict) and "qDocId" in d for d in value):
        return f"gave {_short(value)}, not a doc list"
    docs = [(d["qDocId"], d.get("qTitle")) for d in value]
    return None if docs == reference.docs else f"read {docs}; qlikauth read {reference.docs}"


def _app(value: Any) -> str | None:
    return (
        None
        if isinstance(value, dict) and value.get("type") == "Doc"
        else (f"gave {_short(value)}, not an app")
    )


def _field_value(value: Any, reference: EngineAnswers) -> str | None:
    expected = {"qText": reference.text, "qIsNumeric": True, "qNumber": reference.number}
    read = {k: value.get(k) for k in expected} if isinstance(value, dict) else value
    return None if read == expected else f"read {_short(value)}; qlikauth read {expected}"


def differences(report: dict[str, Any], reference: EngineAnswers) -> list[str]:
    """Where what enigma.js read differs from what qlikauth read, step by step."""
    checks: dict[str, Callable[[Any], str | None]] = {
        "open": lambda value: None,
        "getDocList": lambda value: _doc_list(value, reference),
        "openDoc": _app,
        "evaluate": lambda value: (
            None if value == reference.text else f"read {value!r}; qlikauth read {reference.text!r}"
        ),
        "evaluateEx": lambda value: _field_value(value, reference),
    }
    found = []
    for step, check in checks.items():
        outcome = report.get(step) or {}
        if "error" in outcome:
            problem: str | None = f"failed: {outcome['error']}"
        elif "value" not in outcome:
            problem = "did not run"
        else:
            problem = check(outcome["value"])
        if problem:
            found.append(f"{step} {problem}")
    return found


@pytest.mark.parametrize("mode", MODES)
def test_enigma_direct_to_the_engine_with_the_client_certificate(
    compat_site: CompatSite, cli: Cli, node: str, mode: str
) -> None:
    reference = engine_reference(cli, "certificate")
    info = compat_site.info
    env = {
        "QLIK_ENGINE_URL": info.engine_url,
        "QLIK_CERTS": str(info.certs_dir),
        "QLIK_USER": "QLIKEMU\\compat_certificate",
        "NODE_PATH": str(NODE_MODULES),
    }
    run = run_process([node, str(PROBE), info.app_id(APP), EXPRESSION, mode], env)
    problems = differences(run.last_json(), reference)
    assert not problems, "enigma.js and qlikauth disagree:\n" + "\n".join(problems)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("authenticator", PROXY_AUTHENTICATORS)
def test_enigma_through_the_proxy_under_qlikauth_exec(
    compat_site: CompatSite, cli: Cli, node: str, authenticator: str, mode: str
) -> None:
    reference = engine_reference(cli, authenticator)
    app_id = compat_site.info.app_id(APP)
    run = cli(
        "exec", "--profile", authenticator, "--app", APP,
        "--", node, str(PROBE), app_id, EXPRESSION, mode,
    )  # fmt: skip
    problems = differences(run.last_json(), reference)
    assert not problems, "enigma.js and qlikauth disagree:\n" + "\n".join(problems)
