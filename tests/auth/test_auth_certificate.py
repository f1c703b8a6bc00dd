"""Certificate authentication: direct route, X-Qlik-User, and the trusted ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlikauth import (
    ConfigurationError,
    QlikUser,
    Route,
    Site,
    TlsConfig,
    TlsError,
    TransportError,
)
from qlikauth.auth.base import Authenticator
from qlikauth.auth.certificate import CertificateAuth
from qlikauth.http import HttpTransport, run_flow
from qlikauth.pki import make_test_pki
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.tls import CertificateBundle


def test_login_without_probe_sends_nothing_and_url_encodes(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, pfx_password="pfx-pass-1")
    site = Site("qlik.example.com", tls=TlsConfig(bundle=CertificateBundle.from_folder(tmp_path)))
    assert pki.client.exists()
    flow = CertificateAuth("jürgen müller", "CORP;X").login(site)
    with pytest.raises(StopIteration) as done:
        next(flow)
    credentials = done.value.value
    assert credentials.route is Route.DIRECT
    assert credentials.headers == {
        "X-Qlik-User": "UserDirectory=CORP%3BX; UserId=j%C3%BCrgen%20m%C3%BCller"
    }
    assert credentials.user == QlikUser("CORP;X", "jürgen müller")
    assert list(CertificateAuth("a", "b").logout(site, credentials)) == []


def test_probe_asks_qrs_about_with_xrfkey(tmp_path: Path) -> None:
    make_test_pki(tmp_path, pfx_password="pfx-pass-1")
    site = Site("qlik.example.com", tls=TlsConfig(bundle=CertificateBundle.from_folder(tmp_path)))
    request = next(CertificateAuth("alice", "CORP", probe=True).login(site))
    assert request.url.startswith("https://qlik.example.com:4242/qrs/about?xrfkey=")
    assert request.headers["X-Qlik-User"] == "UserDirectory=CORP; UserId=alice"
    assert request.headers["X-Qlik-Xrfkey"] == request.url.rsplit("=", 1)[1]


def test_no_client_certificate_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="client certificate"):
        next(CertificateAuth("alice", "CORP").login(Site("qlik.example.com")))


class TestCertificateContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return CertificateAuth("alice", "QLIKEMU", probe=True)

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "alice")


def test_untrusted_client_certificate_is_refused_in_the_handshake(
    qlik_emulator: EmulatorInfo, tmp_path: Path
) -> None:
    make_test_pki(tmp_path, pfx_password="pfx-pass-2")
    foreign = CertificateBundle(
        client_cert=tmp_path / "client.pem",
        client_key=tmp_path / "client_key.pem",
        root=qlik_emulator.root,
    )
    site = emulator_site(qlik_emulator, "")
    site = Site(
        site.host,
        qrs_port=site.qrs_port,
        proxy_port=site.proxy_port,
        tls=TlsConfig(bundle=foreign),
    )
    with HttpTransport(site) as transport, pytest.raises((TlsError, TransportError)) as error:
        run_flow(CertificateAuth("alice", "QLIKEMU", probe=True).login(site), transport)
    # TLS 1.3: the server's refusal arrives after the handshake, as a closed connection;
    # the transport names the port, QPS calls explain it (see tests/test_qps.py).
    assert str(site.qrs_port) in str(error.value)
