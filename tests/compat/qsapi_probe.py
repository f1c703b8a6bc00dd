"""qsAPI (PyPI ``qsAPI`` 2.2.0, rafael-sanz/qsAPI) used as its README shows, against QRS and QPS.

    python qsapi_probe.py '{"host": ..., "qrs_port": ..., "qps_port": ..., "certs": ...,
                            "directory": ..., "user": ...}'

qsAPI dates from 2020: it imports ``distutils`` and changes process-wide state (its logger
writes to standard output; with verification off it silences urllib3's warnings), so the
tests run it in an interpreter of its own. It prints one JSON object, last: for each step
``{"value": ...}`` or ``{"error": "ExceptionType: message"}``.

TLS: qsAPI turns its ``verify`` argument into a bool and passes ``verify=True`` to requests,
which then trusts only its default CA bundle (certifi's). A Qlik site's own root is never in
it, so the first step shows that verification is on and refuses the site; the probe then
makes the site's ``root.pem`` requests' default bundle in this process (what
docs/other-tools.md tells users), and qsAPI verifies the server against it on every call.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests.adapters
from qsAPI import QPS, QRS


def _step(report: dict[str, Any], name: str, action: Callable[[], Any]) -> Any:
    try:
        value = action()
    except Exception as exc:  # reported: the test says which step failed and how
        report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return None
    report[name] = {"value": value}
    return value


def _json(response: requests.Response) -> Any:
    response.raise_for_status()
    return response.json()


def main(request: dict[str, Any]) -> dict[str, Any]:
    """Run every step against the site described by ``request``."""
    certs = Path(request["certs"])
    client_cert = str(certs / "client.pem")  # qsAPI finds client_key.pem beside it
    qrs_args = {"proxy": request["host"], "port": int(request["qrs_port"]), "verbosity": "ERROR"}
    qps_args = {"proxy": request["host"], "port": int(request["qps_port"]), "verbosity": "ERROR"}
    report: dict[str, Any] = {}

    _step(
        report, "default_trust", lambda: str(QRS(certificate=client_cert, verify=True, **qrs_args))
    )
    requests.adapters.DEFAULT_CA_BUNDLE_PATH = str(certs / "root.pem")

    connected: list[Any] = []

    def connect() -> dict[str, Any]:
        # QRS() reads GET /qrs/about and parses buildVersion as a (distutils) version.
        connected.append(QRS(certificate=client_cert, verify=True, **qrs_args))
        version = connected[0].VERSION_SERVER
        return {"version": str(version), "parts": version.version}

    if _step(report, "qrs", connect) is not None:
        qrs = connected[0]
        _step(report, "about", qrs.getAbout)
        _step(report, "apps", lambda: [{"id": a["id"], "name": a["name"]} for a in qrs.AppGet()])
    qps = QPS(certificate=client_cert, verify=True, **qps_args)
    directory, user = request["directory"], request["user"]
    _step(report, "user_sessions", lambda: _json(qps.GetUser(directory, user)))
    _step(report, "logout_user", lambda: _json(qps.DeleteUser(directory, user)))
    _step(report, "after_logout", lambda: _json(qps.GetUser(directory, user)))
    return report


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
