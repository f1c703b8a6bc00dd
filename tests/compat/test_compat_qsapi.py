"""qsAPI, a third-party QPS/QRS client from PyPI (2.2.0, 2020), judging the emulator's QRS and
QPS: it connects with the client certificate and verifies the server against the site's
root, parses the About ``buildVersion`` as a version, lists the apps, and reads and ends the
proxy sessions of a user that qlikauth created.

It runs in an interpreter of its own (``qsapi_probe.py`` says why), with only the two
``distutils`` deprecation warnings it is known for silenced.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from compat_support import HERE, Cli, CompatSite, run_process

PROBE = HERE / "qsapi_probe.py"
QSAPI_WARNINGS = (
    "ignore:The distutils package is deprecated:DeprecationWarning",
    "ignore:distutils Version classes are deprecated:DeprecationWarning",
)


def run_qsapi(site: CompatSite, directory: str, user: str) -> dict[str, dict[str, object]]:
    """The probe's report: each step's value or error."""
    ports = site.info["ports"]
    request = {
        "host": site.info.host,
        "qrs_port": ports["qrs"],
        "qps_port": ports["qps"],
        "certs": str(site.info.certs_dir),
        "directory": directory,
        "user": user,
    }
    flags = [arg for warning in QSAPI_WARNINGS for arg in ("-W", warning)]
    run = run_process([sys.executable, *flags, str(PROBE), json.dumps(request)], {})
    report: dict[str, dict[str, object]] = run.last_json()
    return report


def value(report: dict[str, dict[str, object]], step: str) -> object:
    assert "error" not in report[step], f"qsAPI {step} failed: {report[step]['error']}"
    return report[step]["value"]


def test_qsapi_against_qrs_and_qps(compat_site: CompatSite, cli: Cli) -> None:
    if importlib.util.find_spec("qsAPI") is None:
        pytest.skip("qsAPI is not installed (the 'test' extra has it)")
    # qsAPI's QPS speaks to the default virtual proxy (its vproxy option would put the prefix
    # before /qps/, the proxy's form, which QPS on its own port does not have).
    user = "compat_qsapi"
    created = cli.json(
        "session", "create", "--profile", "certificate", "--user", f"QLIKEMU\\{user}"
    )
    with compat_site.client("certificate") as client:
        about = client.get("qrs/about").json()
        with client.engine() as engine:
            docs = {d.doc_id: d.title for d in engine.global_.get_doc_list()}

    report = run_qsapi(compat_site, "QLIKEMU", user)

    # Verification is on: without the site's root, qsAPI refuses the server.
    assert "CERTIFICATE_VERIFY_FAILED" in str(report["default_trust"].get("error")), report
    qrs = value(report, "qrs")
    assert isinstance(qrs, dict)
    assert qrs["version"] == about["buildVersion"]
    parts = qrs["parts"]
    assert isinstance(parts, list) and len(parts) >= 2, parts
    assert all(isinstance(part, int) for part in parts), f"not a dotted version: {parts}"
    assert value(report, "about") == about
    apps = value(report, "apps")
    assert isinstance(apps, list)
    assert {a["id"]: a["name"] for a in apps} == docs  # the repository's apps are the engine's
    sessions = value(report, "user_sessions")
    assert isinstance(sessions, list)
    assert [s["SessionId"] for s in sessions] == [created["session_id"]]
    ended = value(report, "logout_user")
    assert isinstance(ended, list)
    assert [s["SessionId"] for s in ended] == [created["session_id"]]
    assert value(report, "after_logout") == []
    listed = cli.json("session", "list", "--profile", "certificate", "--user", f"QLIKEMU\\{user}")
    assert listed["count"] == 0
