"""qlikauth.keystore with in-test keyring backends."""

from __future__ import annotations

import getpass
from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import pytest

from qlikauth import keystore
from qlikauth.errors import ConfigurationError
from qlikauth.testing.keyrings import MemoryKeyring

SECRET = "S3cret-value-!"


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("D-Bus said no")


@pytest.fixture
def use_backend() -> Iterator[None]:
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory(use_backend: None) -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


def test_set_get_delete(memory: MemoryKeyring) -> None:
    name = keystore.secret_name("prod", "password")
    assert name == "prod:password"
    assert keystore.get_secret(name) is None
    keystore.set_secret(name, SECRET)
    assert memory.store == {("qlikauth", "prod:password"): SECRET}
    assert keystore.get_secret(name) == SECRET
    assert keystore.delete_secret(name) is True
    assert keystore.get_secret(name) is None
    assert keystore.delete_secret(name) is False


def test_services_are_separate(memory: MemoryKeyring) -> None:
    keystore.set_secret("prod:password", SECRET, service="other")
    assert keystore.get_secret("prod:password") is None
    assert keystore.get_secret("prod:password", service="other") == SECRET


def test_set_replaces(memory: MemoryKeyring) -> None:
    keystore.set_secret("prod:password", "first-Secret1")
    keystore.set_secret("prod:password", SECRET)
    assert keystore.get_secret("prod:password") == SECRET


@pytest.mark.parametrize(
    ("profile", "kind"),
    [("", "password"), ("a:b", "password"), ("prod", "pin"), ("pr\nod", "password")],
)
def test_bad_names(profile: str, kind: str) -> None:
    with pytest.raises(ConfigurationError):
        keystore.secret_name(profile, kind)


def test_every_kind_makes_a_name() -> None:
    assert {keystore.secret_name("p", k) for k in keystore.KINDS} == {
        f"p:{k}" for k in keystore.KINDS
    }


def test_empty_secret_and_empty_name_refused(memory: MemoryKeyring) -> None:
    with pytest.raises(ConfigurationError):
        keystore.set_secret("prod:password", "")
    with pytest.raises(ConfigurationError):
        keystore.get_secret("")
    assert memory.store == {}


def test_no_backend_says_how_to_install_one(use_backend: None) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    with pytest.raises(ConfigurationError) as caught:
        keystore.get_secret("prod:password")
    assert "no keyring" in caught.value.message
    assert caught.value.hint and "keyrings.alt" in caught.value.hint
    with pytest.raises(ConfigurationError) as stored:
        keystore.set_secret("prod:password", SECRET)
    assert SECRET not in str(stored.value)


def test_locked_keyring(use_backend: None) -> None:
    keyring.set_keyring(LockedKeyring())
    with pytest.raises(ConfigurationError, match="locked"):
        keystore.get_secret("prod:password")


def test_other_keyring_errors_are_translated_without_the_secret(use_backend: None) -> None:
    keyring.set_keyring(BrokenKeyring())
    with pytest.raises(ConfigurationError) as caught:
        keystore.set_secret("prod:password", SECRET)
    assert "D-Bus said no" in str(caught.value)
    assert SECRET not in str(caught.value) + repr(caught.value.__cause__)


def test_backend_name(memory: MemoryKeyring) -> None:
    assert keystore.backend_name().endswith("MemoryKeyring")


def test_prompt_secret_uses_getpass(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    assert keystore.prompt_secret("Password for CORP\\alice: ") == SECRET
    assert prompts == ["Password for CORP\\alice: "]
    assert keystore.prompt_secret("Password: ", confirm=True) == SECRET
    assert len(prompts) == 3


def test_prompt_secret_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["one-Secret1", "two-Secret2", ""])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    with pytest.raises(ConfigurationError, match="differ") as mismatch:
        keystore.prompt_secret("Password: ", confirm=True)
    assert "one-Secret1" not in str(mismatch.value)
    with pytest.raises(ConfigurationError, match="no secret"):
        keystore.prompt_secret("Password: ")

    def closed(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", closed)
    with pytest.raises(ConfigurationError, match="input closed"):
        keystore.prompt_secret("Password: ")
