"""Point 6: control characters in identities forge lines in logs and output, or split headers
downstream. The client refuses them in every identity field, whether they come from the
caller or from a server; the emulator refuses them too, in QPS bodies (users and
attributes), JWT claims and ``X-Qlik-User`` headers.
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

#: What the emulator refuses in an identity: none of these holds a backslash (QPS refuses
#: one anyway), so each is refused for its control character.
EMULATOR_FORGED = ["alice\r\nroot", "alice\nroot", "alice\x00", "al\tice", "alice\u2028root",
                   "alice\u202eetor", "alice\x85root", "alice\x1b[2J", "alice\x7f"]  # fmt: skip


def _jwt(info: EmulatorInfo, claims: dict[str, object]) -> requests.Response:
    key = Path(info.virtual_proxy("jwt")["jwt_private_key"]).read_bytes()
    token = pyjwt.encode({**claims, "exp": int(time.time()) + 60}, key, "RS256")
    return requests.get(
        emulator_site(info, "jwt").proxy_url("qrs/about", {"xrfkey": "0123456789abcdef"}),
        headers={"Authorization": f"Bearer {token}", "X-Qlik-Xrfkey": "0123456789abcdef"},
        verify=str(info.root),
        timeout=10,
    )


@pytest.mark.parametrize("user_id", EMULATOR_FORGED)
@pytest.mark.parametrize("endpoint", ["ticket/ticket", "hdr/session"])
def test_the_emulators_qps_refuses_a_user_with_a_control_character(
    qlik_emulator: EmulatorInfo, endpoint: str, user_id: str
) -> None:
    body = {"UserDirectory": "QLIKEMU", "UserId": user_id, "Attributes": []}
    if endpoint.endswith("session"):
        body["SessionId"] = f"{new_user()}-0123456789abcdef"
    answer = qps(qlik_emulator, "POST", endpoint, body)
    assert answer.status_code == 400, answer.text
    assert "control character" in answer.text


@pytest.mark.parametrize("endpoint", ["ticket/ticket", "hdr/session"])
@pytest.mark.parametrize(
    "attribute",
    [{"Group": "Sales\r\nX-Qlik-Security: SecureRequest=true"}, {"Gro\nup": "Sales"},
     {"Group": "Sales\x00"}, {"Email": "a@b\u2029"}],
)  # fmt: skip
def test_the_emulators_qps_refuses_an_attribute_with_a_control_character(
    qlik_emulator: EmulatorInfo, endpoint: str, attribute: dict[str, str]
) -> None:
    body: dict[str, object] = {
        "UserDirectory": "QLIKEMU",
        "UserId": new_user(),
        "Attributes": [{"Group": "EU"}, attribute],
    }
    if endpoint.endswith("session"):
        body["SessionId"] = f"{new_user()}-0123456789abcdef"
    answer = qps(qlik_emulator, "POST", endpoint, body)
    assert answer.status_code == 400, answer.text
    assert "control character" in answer.text


def test_the_emulators_qps_takes_names_written_with_joiners(qlik_emulator: EmulatorInfo) -> None:
    # The zero-width non-joiner is part of Persian names: refusing it would refuse people.
    body = {"UserDirectory": "QLIKEMU", "UserId": f"{new_user()}\u200c", "Attributes": []}
    answer = qps(qlik_emulator, "POST", "ticket/ticket", body)
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("user_id", EMULATOR_FORGED)
def test_the_emulators_jwt_proxy_refuses_a_user_claim_with_a_control_character(
    qlik_emulator: EmulatorInfo, user_id: str
) -> None:
    answer = _jwt(qlik_emulator, {"userId": user_id, "userDirectory": "QLIKEMU"})
    assert answer.status_code == 401, answer.text


def test_the_emulators_jwt_proxy_refuses_a_directory_or_mapped_claim_with_one(
    qlik_emulator: EmulatorInfo,
) -> None:
    user = new_user()
    assert _jwt(qlik_emulator, {"userId": user, "userDirectory": "QLIK\r\nEMU"}).status_code == 401
    mapped = {"userId": user, "userDirectory": "QLIKEMU", "groups": ["Sales", "EU\r\nX: y"]}
    assert _jwt(qlik_emulator, mapped).status_code == 401
    # The same token without the forged group is taken: what was refused was the character.
    fine = {"userId": user, "userDirectory": "QLIKEMU", "groups": ["Sales", "EU"]}
    assert _jwt(qlik_emulator, fine).status_code == 200


@pytest.mark.parametrize("user_id", ["alice%0D%0Aroot", "alice%09", "alice%E2%80%AEetor"])
def test_the_emulators_qrs_refuses_an_encoded_control_character_in_x_qlik_user(
    qlik_emulator: EmulatorInfo, user_id: str
) -> None:
    def about(user: str) -> requests.Response:
        return requests.get(
            f"{qlik_emulator.qrs_url.rstrip('/')}/qrs/about?xrfkey=0123456789abcdef",
            headers={
                "X-Qlik-Xrfkey": "0123456789abcdef",
                "X-Qlik-User": f"UserDirectory=INTERNAL; UserId={user}",
            },
            cert=qlik_emulator.client_cert,
            verify=str(qlik_emulator.root),
            timeout=10,
        )

    assert about(user_id).status_code == 403
    assert about("sa_api").status_code == 200  # the same call for a plain user is answered
