"""The Samba fixture's own checks that need no running domain controller."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlikauth.testing.samba import INSTALL_HINT, AdUser, samba_unavailable_reason


def test_missing_samba_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = samba_unavailable_reason()
    assert reason is not None
    assert "samba-tool" in reason
    assert "apt-get install samba samba-ad-dc krb5-user ldap-utils winbind" in reason
    assert INSTALL_HINT in reason


def test_user_names_and_no_password_in_repr() -> None:
    user = AdUser("alice", "Very-secret-1!", "active", ("Europe", "Sales"))
    assert user.upn == "alice@corp.example.com"
    assert user.down_level == "CORP\\alice"
    assert "Very-secret-1!" not in repr(user)
