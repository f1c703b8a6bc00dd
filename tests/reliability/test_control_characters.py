"""Point 6: control characters in identities forge lines in logs and output, or split headers
downstream. The client refuses them in every identity field, whether they come from the
caller or from a server; the emulator must refuse them too (its tests are marked until it
does).
"""

from __future__ import annotations

import time
from pathlib import Path

import jwt as pyjwt
import pytest
import requests
from reliability_support import emulator_site, new_user, qps

from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.auth.ntlm import NtlmAuth
from qlikauth.auth.session import SessionAuth
from qlikauth.auth.ticket import TicketAuth
from qlikauth.cli import main
from qlikauth.client import QlikClient
from qlikauth.errors import ConfigurationError, QlikAuthError
from qlikauth.identity import QlikUser
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.hostile import HostileServer

FORGED = ["alice\r\nQLIKEMU\\root", "alice\nroot", "alice\x00", "al\tice", "alice\u2028root",
          "alice\u202eetor", "alice\x85root", "alice\x1b[2J"]  # fmt: skip


@pytest.mark.parametrize("user_id", FORGED)
def test_every_identity_field_refuses_control_characters(user_id: str) -> None:
    with pytest.raises(ConfigurationError, match=r"control character|line break"):
        QlikUser("QLIKEMU", user_id)
    with pytest.raises(ConfigurationError):
        QlikUser.parse(f"UserDirectory=QLIKEMU; UserId={user_id}")
    with pytest.raises(ConfigurationError):
        TicketAuth(user_id, "QLIKEMU")
    with pytest.raises(ConfigurationError):
        SessionAuth(user_id, "QLIKEMU")
    with pytest.raises(ConfigurationError):
        JwtAuth(user_id, "QLIKEMU", key="unused.pem")
    with pytest.raises(ConfigurationError):
        HeaderAuth(user_id)
    with pytest.raises(ConfigurationError):
        NtlmAuth(f"QLIKEMU\\{user_id}", "password")
    with pytest.raises(ConfigurationError):
        TicketAuth("alice", "QLIKEMU", attributes={"Group": [f"Sales{user_id}"]})


@pytest.mark.parametrize("user_id", ["\ud800", "alice\udcff"])
def test_a_lone_surrogate_is_refused_as_no_server_can_receive_it(user_id: str) -> None:
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        QlikUser("QLIKEMU", user_id)
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        TicketAuth("alice", "QLIKEMU", attributes={"Group": [user_id]})


def test_a_user_with_a_line_break_gets_no_ticket_from_the_command_line(
    qlik_emulator_fresh: EmulatorInfo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    info = qlik_emulator_fresh
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(tmp_path / "no-profiles.toml"))
    monkeypatch.setenv("QLIKAUTH_QPS_PORT", str(info["ports"]["qps"]))
    monkeypatch.setenv("QLIKAUTH_PROXY_PORT", str(info["ports"]["proxy"]))
    argv = ["ticket", "--server", "localhost", "--certs", str(info.certs_dir), "--prefix",
            "ticket", "--user", "QLIKEMU\\alice\r\nQLIKEMU\\root"]  # fmt: skip
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 4
    assert "control character" in err and out == ""
    assert info.counters()["tickets_issued"] == 0


def test_a_server_naming_a_forged_user_is_not_believed() -> None:
    forged = ("HOSTILE", "mallory\r\nHOSTILE\\root")
    with (
        HostileServer(user=forged) as server,
        QlikClient(server.site(), HeaderAuth("mallory")) as client,
        pytest.raises(QlikAuthError),
    ):
        client.whoami()


# --------------------------------------------------------------------------- the emulator


@pytest.mark.parametrize("endpoint", ["ticket/ticket", "hdr/session"])
def test_the_emulators_qps_refuses_a_user_with_a_line_break(
    qlik_emulator: EmulatorInfo, endpoint: str
) -> None:
    body = {"UserDirectory": "QLIKEMU", "UserId": "alice\r\nQLIKEMU\\root", "Attributes": []}
    if endpoint.endswith("session"):
        body["SessionId"] = f"{new_user()}-0123456789abcdef"
    answer = qps(qlik_emulator, "POST", endpoint, body)
    assert answer.status_code == 400, answer.text


@pytest.mark.xfail(
    strict=True,
    reason="the emulator's QPS must refuse control characters in ticket and session "
    "attributes (a 400, as for UserId): the proxy passes them on as X-Qlik-Security",
)
def test_the_emulators_qps_refuses_an_attribute_with_a_line_break(
    qlik_emulator: EmulatorInfo,
) -> None:
    body = {
        "UserDirectory": "QLIKEMU",
        "UserId": new_user(),
        "Attributes": [{"Group": "Sales\r\nX-Qlik-Security: SecureRequest=true"}],
    }
    answer = qps(qlik_emulator, "POST", "ticket/ticket", body)
    assert answer.status_code == 400, answer.text


@pytest.mark.xfail(
    strict=True,
    reason="the emulator's JWT virtual proxy must refuse control characters in the user id "
    "and directory claims (a 401), as its QPS does",
)
def test_the_emulators_jwt_proxy_refuses_a_user_claim_with_a_line_break(
    qlik_emulator: EmulatorInfo,
) -> None:
    key = Path(qlik_emulator.virtual_proxy("jwt")["jwt_private_key"]).read_bytes()
    now = int(time.time())
    claims = {"userId": "alice\r\nroot", "userDirectory": "QLIKEMU", "exp": now + 60}
    token = pyjwt.encode(claims, key, "RS256")
    answer = requests.get(
        emulator_site(qlik_emulator, "jwt").proxy_url("qrs/about", {"xrfkey": "0123456789abcdef"}),
        headers={"Authorization": f"Bearer {token}", "X-Qlik-Xrfkey": "0123456789abcdef"},
        verify=str(qlik_emulator.root),
        timeout=10,
    )
    assert answer.status_code == 401, answer.text
