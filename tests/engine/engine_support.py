"""Helpers for the engine connector tests: a site and credentials for the emulator.

Proxy sessions are made the way Qlik allows a trusted script to: ``POST
/qps/{prefix}/session`` on the QPS port with the client certificate, then ``GET
/{prefix}/qps/csrftoken`` with the session cookie. Plain ``requests`` here, so these tests do
not depend on qlikauth's authenticators.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import requests

from qlikauth.config import site_from_emulator
from qlikauth.credentials import Credentials, QlikUser, Route
from qlikauth.site import Site
from qlikauth.testing.emulator import EmulatorInfo

DIRECTORY = "QLIKEMU"
XRFKEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def make_site(info: EmulatorInfo, prefix: str = "") -> Site:
    """The emulator as a Site, trusting its root and holding its client certificate."""
    return site_from_emulator(info.raw, prefix)


def direct_credentials(user_id: str = "alice") -> Credentials:
    """Certificate + ``X-Qlik-User`` for the direct engine port."""
    user = QlikUser(DIRECTORY, user_id)
    return Credentials(route=Route.DIRECT, user=user, headers={"X-Qlik-User": user.header_value()})


def _xrfkey() -> str:
    return "".join(secrets.choice(XRFKEY_ALPHABET) for _ in range(16))


@dataclass(frozen=True)
class ProxySession:
    """A proxy session made through QPS: its id, cookie name and CSRF token."""

    info: EmulatorInfo
    prefix: str
    session_id: str
    cookie_name: str
    csrf_token: str | None
    user_id: str

    def credentials(self, *, csrf: bool = True) -> Credentials:
        return Credentials(
            route=Route.PROXY,
            user=QlikUser(DIRECTORY, self.user_id),
            cookies={self.cookie_name: self.session_id},
            cookie_name=self.cookie_name,
            csrf_token=self.csrf_token if csrf else None,
        )

    def delete(self) -> None:
        """End the session through QPS (its websockets get ``OnSessionClosed``)."""
        key = _xrfkey()
        response = requests.delete(
            f"{self.info.qps_url}/qps/{self.prefix}/session/{self.session_id}".replace(
                "/qps//", "/qps/"
            ),
            params={"xrfkey": key},
            headers={"X-Qlik-Xrfkey": key},
            cert=self.info.client_cert,
            verify=str(self.info.root),
            timeout=10,
        )
        response.raise_for_status()


def make_proxy_session(info: EmulatorInfo, prefix: str, user_id: str | None = None) -> ProxySession:
    """Add a session for ``user_id`` to virtual proxy ``prefix`` and fetch its CSRF token.

    Without a ``user_id`` each session gets a user of its own: the shared emulator keeps
    Qlik's limit of five sessions per user, so tests must not pile sessions on one name.
    """
    user_id = user_id or f"eng-{uuid.uuid4().hex[:12]}"
    session_id = str(uuid.uuid4())
    key = _xrfkey()
    path = f"/qps/{prefix}/session" if prefix else "/qps/session"
    response = requests.post(
        info.qps_url + path,
        params={"xrfkey": key},
        headers={"X-Qlik-Xrfkey": key},
        json={
            "UserDirectory": DIRECTORY,
            "UserId": user_id,
            "Attributes": [],
            "SessionId": session_id,
        },
        cert=info.client_cert,
        verify=str(info.root),
        timeout=10,
    )
    response.raise_for_status()
    cookie = info.cookie_name(prefix)
    token_path = f"/{prefix}/qps/csrftoken" if prefix else "/qps/csrftoken"
    token_response = requests.get(
        info.proxy_url + token_path,
        cookies={cookie: session_id},
        verify=str(info.root),
        allow_redirects=False,
        timeout=10,
    )
    token = token_response.headers.get("qlik-csrf-token")
    if info["release"] != "2024-05":
        assert token_response.status_code == 204, token_response.status_code
        assert token
    return ProxySession(info, prefix, session_id, cookie, token, user_id)
