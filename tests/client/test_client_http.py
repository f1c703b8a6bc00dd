"""Every proxy authenticator over plain http (Qlik's "Allow HTTP"): the session cookie gets
``-HTTP``, websockets use ``ws://`` with an ``http://`` Origin, and downloads work the same."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from client_support import AUTH_CASES, AuthCase, new_user_id, proxy_sessions

from qlikauth.auth.header import HeaderAuth
from qlikauth.client import QlikClient
from qlikauth.credentials import QlikUser
from qlikauth.errors import ConfigurationError, ForeignHostError
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.emulator_info import site_from_emulator

PROXY_CASES = [case for case in AUTH_CASES if not case.direct]


@pytest.mark.parametrize("case", PROXY_CASES, ids=[c.name for c in PROXY_CASES])
def test_login_engine_and_download_over_http(
    qlik_emulator_http: EmulatorInfo, case: AuthCase, tmp_path: Path
) -> None:
    info = qlik_emulator_http
    site = site_from_emulator(info.raw, case.prefix, http=True)
    assert site.proxy_url().startswith("http://")
    user = QlikUser(case.directory, new_user_id())
    with QlikClient(site, case.build(info, user.user_id)) as client:
        assert client.whoami() == user
        credentials = client.credentials()
        assert set(credentials.cookies) == {f"{info.cookie_name(case.prefix)}-HTTP"}
        options = client.websocket_options()
        assert options.url.startswith("ws://")
        assert options.origin == f"http://{info.host}:{info['ports']['proxy_http']}"
        doc = client.open_app(info.app_id("Sales"))
        assert doc.evaluate("6 * 7") == 42
        cube = doc.create_hypercube(["Region"], ["Sum(Amount)"])
        result = client.download(cube.export_data("CSV_C"), tmp_path / "sales.csv")
        assert result.path.read_text(encoding="utf-8-sig").startswith("Region,")
        assert client.login_count == 1
        assert proxy_sessions(info, case.prefix, user) == 1


def test_ntlm_over_http_uses_the_login_module_on_its_http_port(
    qlik_emulator_http: EmulatorInfo,
) -> None:
    pytest.importorskip("spnego", reason="NTLM needs the 'windows' extra (pyspnego)")
    from qlikauth.auth.ntlm import NtlmAuth

    info = qlik_emulator_http
    site = site_from_emulator(info.raw, "", http=True)
    assert site.auth_port == info["ports"]["auth_http"]
    domain = info.windows_domain
    auth = NtlmAuth(user=f"{domain}\\dave", password=info.windows_password("dave"))
    with QlikClient(site, auth) as client:
        assert client.whoami() == QlikUser(domain, "dave")
        assert set(client.credentials().cookies) == {"X-Qlik-Session-HTTP"}
        with client.engine() as engine:
            assert engine.global_.engine_version()


def test_an_emulator_without_http_is_named_as_the_problem(qlik_emulator: EmulatorInfo) -> None:
    with pytest.raises(ConfigurationError) as refused:
        site_from_emulator(qlik_emulator.raw, "hdr", http=True)
    assert "--allow-http" in (refused.value.hint or "")


def test_credentials_stay_on_the_http_site_they_were_made_for(
    qlik_emulator_http: EmulatorInfo,
) -> None:
    info = qlik_emulator_http
    site = site_from_emulator(info.raw, "hdr", http=True)
    with QlikClient(site, HeaderAuth(user=new_user_id())) as client:
        assert client.get("qrs/about").status == 200
        # The same host's https proxy is another origin: the -HTTP cookie is not sent there.
        with pytest.raises(ForeignHostError):
            client.get(f"{info.proxy_url}/hdr/qrs/about")


def test_a_plain_http_client_warns_that_credentials_cross_in_clear(
    qlik_emulator_http: EmulatorInfo, caplog: pytest.LogCaptureFixture
) -> None:
    site = site_from_emulator(qlik_emulator_http.raw, "hdr", http=True)
    with caplog.at_level(logging.WARNING, logger="qlikauth.client"):
        QlikClient(site, HeaderAuth(user=new_user_id())).close()
    assert f"{site.origin} is plain http" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qlikauth.client"):
        QlikClient(site_from_emulator(qlik_emulator_http.raw, "hdr"), HeaderAuth(user="x")).close()
    assert "plain http" not in caplog.text
