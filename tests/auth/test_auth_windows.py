"""WindowsAuth: validate a Windows password, issue a QPS ticket for the user, redeem it.

End to end against the emulator's ``ticket`` virtual proxy, with the password checked by a
real Samba Active Directory (LDAPS) or by the emulator's Windows virtual proxy (NTLM).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import textwrap
from pathlib import Path

import pytest

from qlikauth.auth.base import Authenticator, create_authenticator
from qlikauth.auth.windows import WindowsAuth
from qlikauth.client import AsyncQlikClient, QlikClient
from qlikauth.config import resolve
from qlikauth.credentials import Credentials, QlikUser
from qlikauth.errors import (
    AccountRestrictedError,
    ConfigurationError,
    InvalidCredentialsError,
    TooManyAttemptsError,
)
from qlikauth.pki import make_test_pki
from qlikauth.qps import QpsClient
from qlikauth.site import Site
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo
from qlikauth.testing.keyrings import MemoryKeyring
from qlikauth.testing.samba import SambaDomainController
from qlikauth.testing.validators import exception_texts
from qlikauth.validators import FailureLimiter, LdapValidator, ValidatedUser, Validator
from qlikauth.validators.base import INVALID_CREDENTIALS, check_password_given
from qlikauth.validators.ntlm import NtlmValidator

TICKET_PREFIX = "ticket"


class TableValidator:
    """A validator of our own over a fixed table: the interface is small enough for this."""

    name = "table"

    def __init__(self, table: dict[str, tuple[str, ValidatedUser]]) -> None:
        self._table = table
        self.calls = 0

    def __repr__(self) -> str:
        return f"TableValidator({sorted(self._table)})"

    def validate(self, username: str, password: str) -> ValidatedUser:
        self.calls += 1
        check_password_given(password)
        entry = self._table.get(username)
        if entry is None or entry[0] != password:
            raise InvalidCredentialsError(INVALID_CREDENTIALS)
        return entry[1]


def ticket_site(info: EmulatorInfo) -> Site:
    return emulator_site(info, TICKET_PREFIX)


def session_attributes(site: Site, credentials: Credentials) -> tuple[tuple[str, str], ...]:
    """The attributes QPS holds for the session (what the ticket carried)."""
    assert credentials.session_id is not None
    qps = QpsClient(site)
    try:
        session = qps.get_session(credentials.session_id)
    finally:
        qps.close()
    assert session is not None, "QPS does not know the session"
    return session.attributes


# --------------------------------------------------------------------------- contract


class TestWindowsAuthContract(AuthenticatorContract):
    """The built-in contract, with the password checked over NTLM by the emulator."""

    @pytest.fixture
    def authenticator(self, qlik_emulator: EmulatorInfo) -> Authenticator:
        # Unvalidated: the contract runs prepare(site) before each login, as drivers do.
        password = qlik_emulator.windows_password("carol")
        return WindowsAuth(
            "QLIKEMU\\carol",
            NtlmValidator(emulator_site(qlik_emulator, "")),
            password=lambda: password,
        )

    @pytest.fixture
    def secrets(self, qlik_emulator: EmulatorInfo) -> list[str]:
        return [qlik_emulator.windows_password("carol")]

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return ticket_site(qlik_emulator)

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "carol")


# --------------------------------------------------------------------------- no directory


ERIN = ValidatedUser("CORP", "erin", ("Europe", "Sales"), (("Email", "erin@corp.example.com"),))
ERIN_PASSWORD = "Erin-Pa55word!"


def table() -> TableValidator:
    return TableValidator({"CORP\\erin": (ERIN_PASSWORD, ERIN)})


def test_configuration_errors() -> None:
    assert isinstance(table(), Validator)  # a validator of our own fits the protocol
    with pytest.raises(ConfigurationError, match="no password source"):
        WindowsAuth("CORP\\erin", table())
    with pytest.raises(ConfigurationError, match="more than one source"):
        WindowsAuth("CORP\\erin", table(), password="x", prompt=True)
    with pytest.raises(ConfigurationError, match="empty"):
        WindowsAuth(" ", table(), password="x")
    with pytest.raises(ConfigurationError, match="not a validator"):
        WindowsAuth("CORP\\erin", object(), password="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="validator kind"):
        WindowsAuth("CORP\\erin", {"kind": "radius"}, password="x")
    with pytest.raises(ConfigurationError, match="a string or a function"):
        WindowsAuth("CORP\\erin", table(), password=42)  # type: ignore[arg-type]


def test_unvalidated_login_refuses_without_io() -> None:
    flow = WindowsAuth("CORP\\erin", table(), password=ERIN_PASSWORD).login(Site("qlik.example"))
    with pytest.raises(ConfigurationError, match=r"prepare\(site\)"):
        next(flow)


def test_prepared_flow_issues_a_ticket_with_groups_and_attributes() -> None:
    site = Site("qlik.example.com")
    auth = WindowsAuth(
        "CORP\\erin", table(), password=ERIN_PASSWORD, attributes={"Role": ["Analyst"]}
    ).prepare(site)
    assert auth.qlik_user == QlikUser("CORP", "erin")
    request = next(auth.login(site))
    assert request.url.startswith("https://qlik.example.com:4243/qps/ticket")
    assert request.body is not None
    body = json.loads(request.body)
    assert (body["UserDirectory"], body["UserId"]) == ("CORP", "erin")
    assert body["Attributes"] == [
        {"Group": "Europe"},
        {"Group": "Sales"},
        {"Email": "erin@corp.example.com"},
        {"Role": "Analyst"},
    ]


def test_a_string_password_serves_one_login_and_is_not_kept() -> None:
    site = Site("qlik.example.com")
    auth = WindowsAuth("CORP\\erin", table(), password=ERIN_PASSWORD)
    shown = repr(auth) + str(auth)
    prepared = auth.prepare(site)
    assert prepared.validated == ERIN
    for obj in (auth, prepared):
        assert ERIN_PASSWORD not in repr(obj) + str(obj) + repr(vars(obj))
    assert ERIN_PASSWORD not in shown
    with pytest.raises(ConfigurationError, match="served one login") as again:
        auth.prepare(site)
    assert "function" in (again.value.hint or "")


def test_a_failed_check_leaves_the_password_in_no_traceback_frame() -> None:
    wrong = "Not-Erins-Pa55word"
    auth = WindowsAuth("CORP\\erin", table(), password=lambda: wrong)
    with pytest.raises(InvalidCredentialsError) as caught:
        auth.prepare(Site("qlik.example.com"))
    tb = caught.value.__traceback__
    assert tb is not None
    tb = tb.tb_next  # this test's own frame holds it, of course
    frames = 0
    while tb is not None:
        frames += 1
        assert wrong not in tb.tb_frame.f_locals.values(), tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    assert frames >= 2  # prepare() and the validators below it


def test_a_password_function_is_asked_at_each_login() -> None:
    asked: list[int] = []

    def password() -> str:
        asked.append(1)
        return ERIN_PASSWORD

    validator = table()
    auth = WindowsAuth("CORP\\erin", validator, password=password)
    site = Site("qlik.example.com")
    assert auth.prepare(site).validated == auth.prepare(site).validated == ERIN
    assert (len(asked), validator.calls) == (2, 2)
    assert auth.prepare(site).prepare(site).validated == ERIN  # a validated one is final
    assert validator.calls == 3


def test_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return ERIN_PASSWORD

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    auth = WindowsAuth("CORP\\erin", table(), prompt=True)
    assert auth.prepare(Site("qlik.example.com")).validated == ERIN
    assert prompts == ["Windows password for CORP\\erin: "]


def test_keyring_source(memory_keyring: MemoryKeyring) -> None:
    from qlikauth import keystore

    keystore.set_secret("corp:password", ERIN_PASSWORD)
    auth = WindowsAuth("CORP\\erin", table(), keyring_entry="corp:password")
    assert "keyring:qlikauth/corp:password" in repr(auth)
    assert auth.prepare(Site("qlik.example.com")).validated == ERIN
    keystore.delete_secret("corp:password")
    with pytest.raises(ConfigurationError, match="keyring holds no password") as missing:
        auth.prepare(Site("qlik.example.com"))
    assert "keyring set qlikauth corp:password" in (missing.value.hint or "")


def test_rate_limited_by_default() -> None:
    validator = table()
    auth = WindowsAuth("CORP\\erin", validator, password=lambda: "wrong-password")
    site = Site("qlik.example.com")
    for _ in range(3):
        with pytest.raises(InvalidCredentialsError):
            auth.prepare(site)
    with pytest.raises(TooManyAttemptsError) as stopped:
        auth.prepare(site)
    assert stopped.value.retry_after is not None and stopped.value.retry_after > 0
    assert validator.calls == 3  # the fourth attempt never reached the validator
    unlimited = WindowsAuth("CORP\\erin", validator, password=lambda: "wrong", rate_limit=False)
    for _ in range(4):
        with pytest.raises(InvalidCredentialsError):
            unlimited.prepare(site)
    shared = FailureLimiter(max_failures=1)
    with pytest.raises(InvalidCredentialsError):
        WindowsAuth("erin@x", validator, password="wrong", rate_limit=shared).prepare(site)
    with pytest.raises(TooManyAttemptsError):
        WindowsAuth("CORP\\ERIN", validator, password="wrong", rate_limit=shared).prepare(site)


def test_client_login_sends_groups_as_ticket_attributes(qlik_emulator: EmulatorInfo) -> None:
    site = ticket_site(qlik_emulator)
    auth = WindowsAuth("CORP\\erin", table(), password=lambda: ERIN_PASSWORD)
    with QlikClient(site, auth) as client:
        assert client.whoami() == QlikUser("CORP", "erin")
        attributes = session_attributes(site, client.credentials())
    assert ("Group", "Europe") in attributes
    assert ("Group", "Sales") in attributes
    assert ("Email", "erin@corp.example.com") in attributes


def test_async_client_prepares_off_the_loop(qlik_emulator: EmulatorInfo) -> None:
    site = ticket_site(qlik_emulator)
    loop_threads: list[bool] = []

    def password() -> str:
        try:
            asyncio.get_running_loop()
            loop_threads.append(True)
        except RuntimeError:
            loop_threads.append(False)
        return ERIN_PASSWORD

    async def run() -> QlikUser:
        async with AsyncQlikClient(
            site, WindowsAuth("CORP\\erin", table(), password=password)
        ) as c:
            return await c.whoami()

    assert asyncio.run(run()) == QlikUser("CORP", "erin")
    assert loop_threads == [False]


def test_ntlm_validated_user_gets_a_ticket_session(qlik_emulator: EmulatorInfo) -> None:
    site = ticket_site(qlik_emulator)
    validator = NtlmValidator(emulator_site(qlik_emulator, ""))
    good = WindowsAuth("QLIKEMU\\dave", validator, password=qlik_emulator.windows_password("dave"))
    with QlikClient(site, good) as client:
        assert client.whoami() == QlikUser("QLIKEMU", "dave")
    wrong = WindowsAuth("QLIKEMU\\dave", validator, password="not-daves")
    with QlikClient(site, wrong) as client, pytest.raises(InvalidCredentialsError) as caught:
        client.whoami()
    assert caught.value.message == INVALID_CREDENTIALS


def test_ntlm_validator_from_a_mapping(qlik_emulator: EmulatorInfo) -> None:
    site = ticket_site(qlik_emulator)
    auth = create_authenticator(
        "windows",
        user="dave",
        validator={"kind": "ntlm", "prefix": "", "default_domain": "QLIKEMU"},
        password=qlik_emulator.windows_password("dave"),
    )
    with QlikClient(site, auth) as client:
        assert client.whoami() == QlikUser("QLIKEMU", "dave")


def test_from_a_profile(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "pki", ["localhost"], pfx_password="unused-Pfx-1")
    config = tmp_path / "qlikauth.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [profiles.prod]
            server = "qlik.example.com"
            prefix = "ticket"
            cookie_name = "X-Qlik-Session-ticket"
            authenticator = "windows"

            [profiles.prod.auth]
            user = 'CORP\\alice'
            keyring_entry = "prod:password"
            validator = {{ kind = "ldap", url = "ldaps://corp.example", ca_file = '{pki.root}' }}
            """
        )
    )
    auth = resolve("prod", config=config, env={}).authenticator
    assert isinstance(auth, WindowsAuth)
    assert (auth.user, auth.keyring_entry) == ("CORP\\alice", "prod:password")
    assert repr(auth) == (
        "WindowsAuth(user='CORP\\\\alice', validator=ldap, password=keyring:qlikauth/prod:password)"
    )


# --------------------------------------------------------------------------- Samba AD


def ldap(dc: SambaDomainController, **options: object) -> LdapValidator:
    settings: dict[str, object] = {"ca_file": dc.ca_file, "tls_server_name": dc.server_name}
    settings.update(options)
    return LdapValidator(dc.ldaps_url, **settings)  # type: ignore[arg-type]


@pytest.fixture
def ad_site(qlik_emulator: EmulatorInfo) -> Site:
    return ticket_site(qlik_emulator)


@pytest.mark.samba
@pytest.mark.timeout(300)
def test_alice_gets_a_session_with_her_ad_groups(
    samba_ad: SambaDomainController, ad_site: Site
) -> None:
    alice = samba_ad.user("alice")
    auth = WindowsAuth(alice.down_level, ldap(samba_ad), password=lambda: alice.password)
    with QlikClient(ad_site, auth) as client:
        assert client.whoami() == QlikUser("CORP", "alice")
        attributes = session_attributes(ad_site, client.credentials())
    groups = sorted(v for k, v in attributes if k == "Group")
    # Sales directly, Europe through Sales (the nested group).
    assert groups == ["Europe", "Sales"]


@pytest.mark.samba
@pytest.mark.timeout(300)
def test_direct_groups_only(samba_ad: SambaDomainController, ad_site: Site) -> None:
    alice = samba_ad.user("alice")
    validator = ldap(samba_ad, nested_groups=False)
    auth = WindowsAuth(alice.upn, validator, password=lambda: alice.password)
    with QlikClient(ad_site, auth) as client:
        attributes = session_attributes(ad_site, client.credentials())
    assert [v for k, v in attributes if k == "Group"] == ["Sales"]


@pytest.mark.samba
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dora", "disabled"),
        ("pete", "password_expired"),
        ("mike", "must_change_password"),
        ("ada", "expired"),
        ("lucy", "locked"),
    ],
)
def test_restricted_accounts_give_their_reason(
    samba_ad: SambaDomainController, ad_site: Site, name: str, reason: str
) -> None:
    user = samba_ad.user(name)
    auth = WindowsAuth(user.upn, ldap(samba_ad), password=user.password)
    with QlikClient(ad_site, auth) as client, pytest.raises(AccountRestrictedError) as caught:
        client.credentials()
    assert caught.value.reason == reason
    assert user.password not in "\n".join(exception_texts(caught.value))


@pytest.mark.samba
@pytest.mark.timeout(300)
@pytest.mark.parametrize("who", ["wrong password", "unknown user"])
def test_wrong_password_and_unknown_user_are_invalid_credentials(
    samba_ad: SambaDomainController, ad_site: Site, who: str
) -> None:
    alice = samba_ad.user("alice")
    name = alice.upn if who == "wrong password" else "nobody@corp.example.com"
    password = alice.password + "x"
    auth = WindowsAuth(name, ldap(samba_ad), password=password)
    with QlikClient(ad_site, auth) as client, pytest.raises(InvalidCredentialsError) as caught:
        client.credentials()
    assert caught.value.message == INVALID_CREDENTIALS
    assert client.login_count == 0


@pytest.mark.samba
@pytest.mark.timeout(300)
def test_password_never_logged_nor_shown(
    samba_ad: SambaDomainController, ad_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = samba_ad.user("alice")
    wrong = alice.password[::-1]
    auth = WindowsAuth(alice.down_level, ldap(samba_ad), password=lambda: alice.password)
    shown = [repr(auth), str(auth)]
    with QlikClient(ad_site, auth) as client:
        client.whoami()
        shown += [repr(client), repr(client.credentials()), repr(auth.prepare(ad_site))]
    bad = WindowsAuth(alice.down_level, ldap(samba_ad), password=wrong)
    with QlikClient(ad_site, bad) as client, pytest.raises(InvalidCredentialsError) as caught:
        client.credentials()
    shown += [repr(bad), "\n".join(exception_texts(caught.value))]
    restricted = samba_ad.user("dora")
    with pytest.raises(AccountRestrictedError) as refused:
        WindowsAuth(restricted.upn, ldap(samba_ad), password=restricted.password).prepare(ad_site)
    shown.append("\n".join(exception_texts(refused.value)))
    logged = [caplog.text, *(r.getMessage() for r in caplog.records)]
    logged += [repr(r.args) for r in caplog.records]
    assert any("alice" in text for text in logged), "the log captured nothing of the logins"
    for secret in (alice.password, wrong, restricted.password):
        assert not any(secret in text for text in logged + shown)


@pytest.mark.samba
@pytest.mark.timeout(300)
def test_password_from_the_keyring(
    samba_ad: SambaDomainController, ad_site: Site, memory_keyring: MemoryKeyring
) -> None:
    from qlikauth import keystore

    alice = samba_ad.user("alice")
    keystore.set_secret(keystore.secret_name("corp", "password"), alice.password)
    assert memory_keyring.store == {("qlikauth", "corp:password"): alice.password}
    auth = create_authenticator(
        "windows",
        user=alice.upn,
        validator={
            "kind": "ldap",
            "url": samba_ad.ldaps_url,
            "ca_file": str(samba_ad.ca_file),
            "tls_server_name": samba_ad.server_name,
        },
        keyring_entry="corp:password",
    )
    assert alice.password not in repr(auth)
    with QlikClient(ad_site, auth) as client:
        assert client.whoami() == QlikUser("CORP", "alice")
        # A second login (a session refresh) reads the keyring again.
        client.relogin(client.credentials())
        assert client.login_count == 2
