"""Sites, authenticators and QPS session counts against the emulator, for the client tests.

A plain module (not conftest.py) so that tests import it by a name no other folder uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from qlikauth.auth.base import Authenticator
from qlikauth.auth.certificate import CertificateAuth
from qlikauth.auth.existing import ExistingSessionAuth
from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.auth.session import SessionAuth
from qlikauth.auth.ticket import TicketAuth
from qlikauth.credentials import QlikUser
from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.emulator_info import site_from_emulator


def make_site(info: EmulatorInfo, prefix: str, *, certificate: bool = True) -> Site:
    """The emulator as a :class:`Site` seen through one virtual proxy."""
    return site_from_emulator(info.raw, prefix, client_certificate=certificate)


def new_user_id() -> str:
    """A user nobody else in the run uses, so session counts belong to one test."""
    return f"u{uuid.uuid4().hex[:10]}"


def qps(info: EmulatorInfo, method: str, path: str, body: Any = None) -> requests.Response:
    """A QPS call with the client certificate and an Xrfkey (what an admin script does)."""
    return info.qps(method, path, body)


def proxy_sessions(info: EmulatorInfo, prefix: str, user: QlikUser) -> int:
    """How many proxy sessions QPS reports for ``user`` on virtual proxy ``prefix``."""
    return info.proxy_session_count(prefix, user.directory, user.user_id)


def end_user_sessions(info: EmulatorInfo, prefix: str, user: QlikUser) -> None:
    """Log the user out everywhere on ``prefix`` through QPS (the session "expires")."""
    head = f"{prefix}/" if prefix else ""
    answer = qps(info, "DELETE", f"{head}user/{user.directory}/{user.user_id}")
    assert answer.status_code == 200, answer.text


@dataclass(frozen=True)
class AuthCase:
    """One authenticator on its virtual proxy, and who it should log in as."""

    name: str
    prefix: str
    build: Callable[[EmulatorInfo, str], Authenticator]
    directory: str
    direct: bool = False


def _jwt(info: EmulatorInfo, user: str) -> Authenticator:
    key = Path(str(info.virtual_proxy("jwt")["jwt_private_key"]))
    return JwtAuth(user=user, directory="CORP", key=key)


def _existing(info: EmulatorInfo, user: str) -> Authenticator:
    session_id = str(uuid.uuid4())
    body = {"UserDirectory": "CORP", "UserId": user, "Attributes": [], "SessionId": session_id}
    answer = qps(info, "POST", "hdr/session", body)
    assert answer.status_code in (200, 201), answer.text
    return ExistingSessionAuth(session_id=session_id)


AUTH_CASES = [
    AuthCase("header", "hdr", lambda info, u: HeaderAuth(user=u), "QLIKEMU"),
    AuthCase(
        "header-dynamic", "hdrdyn", lambda info, u: HeaderAuth(user=u, directory="CORP"), "CORP"
    ),
    AuthCase("jwt", "jwt", _jwt, "CORP"),
    AuthCase("ticket", "ticket", lambda info, u: TicketAuth(user=u, directory="CORP"), "CORP"),
    AuthCase("session", "jwt", lambda info, u: SessionAuth(user=u, directory="CORP"), "CORP"),
    AuthCase(
        "certificate",
        "",
        lambda info, u: CertificateAuth(user=u, directory="CORP"),
        "CORP",
        direct=True,
    ),
    AuthCase("existing", "hdr", _existing, "CORP"),
]
