"""The broker with the LDAP validator against a real Samba Active Directory: attribute
mapping, restricted accounts, unknown users, and ``--check`` reaching the directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from broker_support import Stage, login_link

from qlikauth import QlikUser, QpsClient
from qlikauth.broker import check_broker
from qlikauth.pki import make_test_pki
from qlikauth.testing.emulator_info import site_from_emulator
from qlikauth.testing.samba import SambaDomainController

pytestmark = [pytest.mark.samba, pytest.mark.timeout(300)]


def ldap(dc: SambaDomainController, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "ldap",
        "url": dc.ldaps_url,
        "ca_file": str(dc.ca_file),
        "tls_server_name": dc.server_name,
        **extra,
    }


def test_groups_become_attributes_through_the_mapping(
    stage: Stage, samba_ad: SambaDomainController
) -> None:
    alice = samba_ad.user("alice")
    mapping = {"group_attribute": "Role", "groups": ["sal*"], "rename": {"Mail": "Email"}}
    validator = ldap(samba_ad, ticket_attributes={"Mail": "userPrincipalName"})
    with stage.broker(validator=validator, attributes=mapping):
        client = stage.client()
        client.open(login_link(stage.info))
        answer = client.submit(alice.upn, alice.password)
        assert answer.status_code == 303
        assert client.get(answer.headers["Location"]).status_code == 200
    with QpsClient(site_from_emulator(stage.info.raw, "ticket")) as qps:
        (session,) = qps.user_sessions(QlikUser("CORP", "alice"))
    assert set(session.attributes) == {("Role", "Sales"), ("Email", alice.upn)}


def test_unknown_and_known_users_get_the_same_answer(
    stage: Stage, samba_ad: SambaDomainController
) -> None:
    with stage.broker(validator=ldap(samba_ad)):
        answers = []
        for user in ("CORP\\alice", "CORP\\nobody-here"):
            client = stage.client()
            client.open(login_link(stage.info))
            answer = client.submit(user, "Not-Her-Password-1")
            answers.append((answer.status_code, "password is incorrect" in answer.text))
    assert answers == [(401, True), (401, True)]
    assert [e["result"] for e in stage.audit()] == ["invalid_credentials"] * 2


def test_a_restricted_account_is_told_why_after_the_right_password(
    stage: Stage, samba_ad: SambaDomainController
) -> None:
    dora = samba_ad.user("dora")
    with stage.broker(validator=ldap(samba_ad)):
        client = stage.client()
        client.open(login_link(stage.info))
        answer = client.submit(dora.down_level, dora.password)
    assert answer.status_code == 403
    assert "Your account is disabled." in answer.text
    entry = stage.audit()[-1]
    assert (entry["result"], entry["reason"]) == ("account_restricted", "disabled")


def test_check_reaches_qps_and_the_directory(
    stage: Stage, samba_ad: SambaDomainController, tmp_path: Path
) -> None:
    results = check_broker(stage.settings(validator=ldap(samba_ad)))
    assert all(r.ok for r in results), results
    by_name = {r.what: r.detail for r in results}
    assert samba_ad.base_dn in by_name["directory"]
    assert any(what.startswith("QPS localhost") for what in by_name)
    other = make_test_pki(tmp_path / "other", pfx_password="unused")
    failed = check_broker(stage.settings(validator=ldap(samba_ad, ca_file=str(other.root))))
    directory = next(r for r in failed if r.what == "directory")
    assert not directory.ok and "not trusted" in directory.detail
