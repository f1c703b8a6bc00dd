"""JWT: the signer, the claims, inspect/verify, and the JWT virtual proxy's refusals."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from qlikauth import (
    ConfigurationError,
    JwtError,
    QlikUser,
    Site,
    VirtualProxy,
)
from qlikauth.auth.base import Authenticator, create_authenticator
from qlikauth.auth.jwt import (
    JwtAuth,
    JwtSigner,
    KeyringKey,
    exchange_jwt_flow,
    inspect_jwt,
    make_jwt_keypair,
    verify_jwt,
)
from qlikauth.http import HttpResponse, HttpTransport, run_flow
from qlikauth.testing.contract import AuthenticatorContract, emulator_site
from qlikauth.testing.emulator import EmulatorInfo

SITE = Site("qlik.example.com", VirtualProxy("jwt", "X-Qlik-Session-jwt"))


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("jwt")
    return make_jwt_keypair(folder / "key.pem", folder / "cert.pem")


@pytest.fixture(scope="module")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("jwt-other")
    return make_jwt_keypair(folder / "key.pem", folder / "cert.pem")


# --- the signer ----------------------------------------------------------------------------


def test_keypair_files_and_modes(keypair: tuple[Path, Path]) -> None:
    key, cert = keypair
    assert key.stat().st_mode & 0o077 == 0
    assert b"PRIVATE KEY" in key.read_bytes()
    assert b"CERTIFICATE" in cert.read_bytes()


def test_signer_loads_the_key_once(keypair: tuple[Path, Path]) -> None:
    key_path, cert = keypair
    signer = JwtSigner(key_path)
    first = signer.private_key
    assert signer.private_key is first
    token = signer.sign({"userId": "a", "userDirectory": "D"})
    assert verify_jwt(token, cert, require_exp=False)["userId"] == "a"


def test_signer_accepts_pem_bytes_text_and_key_objects(keypair: tuple[Path, Path]) -> None:
    key_path, cert = keypair
    pem = key_path.read_bytes()
    for source in (pem, pem.decode(), str(key_path), JwtSigner(key_path).private_key):
        token = JwtSigner(source, algorithm="RS512").sign({"userId": "u", "userDirectory": "d"})
        assert pyjwt.get_unverified_header(token)["alg"] == "RS512"
        assert verify_jwt(token, cert, require_exp=False)["userDirectory"] == "d"


def test_header_carries_alg_typ_and_kid(keypair: tuple[Path, Path]) -> None:
    token = JwtSigner(keypair[0], algorithm="RS384", key_id="k-1").sign({"a": 1})
    assert pyjwt.get_unverified_header(token) == {"alg": "RS384", "typ": "JWT", "kid": "k-1"}
    assert pyjwt.decode(token, JwtSigner(keypair[0]).public_key(), ["RS384"]) == {"a": 1}


def test_encrypted_key_needs_its_passphrase(tmp_path: Path) -> None:
    key, cert = make_jwt_keypair(tmp_path / "k.pem", tmp_path / "c.pem", passphrase="s3cret-pass")
    with pytest.raises(ConfigurationError, match="encrypted"):
        JwtSigner(key).sign({})
    with pytest.raises(ConfigurationError, match="wrong passphrase"):
        JwtSigner(key, passphrase="nope").sign({})
    signer = JwtSigner(key, passphrase="s3cret-pass")
    assert "s3cret-pass" not in repr(signer)
    assert verify_jwt(signer.sign({"userId": "u", "userDirectory": "d"}), cert, require_exp=False)


@pytest.mark.parametrize("algorithm", ["HS256", "HS512", "ES256", "none"])
def test_only_rs_algorithms(algorithm: str, keypair: tuple[Path, Path]) -> None:
    with pytest.raises(JwtError) as error:
        JwtSigner(keypair[0], algorithm=algorithm)
    assert "RS256" in str(error.value)
    if algorithm.startswith("HS"):
        assert "shared-secret" in str(error.value)
        assert "make_jwt_keypair" in str(error.value)


def test_non_rsa_key_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(JwtError, match="not RSA"):
        JwtSigner(pem).sign({})


def test_missing_or_wrong_key_files(tmp_path: Path, keypair: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        JwtSigner(tmp_path / "absent.pem").sign({})
    with pytest.raises(ConfigurationError, match="no PEM private key"):
        JwtSigner(keypair[1]).sign({})


def test_keyring_reference_reads_the_keystore(
    keypair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qlikauth import keystore

    seen: list[tuple[str, str | None]] = []

    def fake_get_secret(name: str, *, service: str = "qlikauth") -> str | None:
        seen.append((name, service))
        return keypair[0].read_text() if name == "jwt-key" else None

    monkeypatch.setattr(keystore, "get_secret", fake_get_secret)
    token = JwtSigner("keyring:jwt-key").sign({"userId": "u", "userDirectory": "d"})
    assert verify_jwt(token, keypair[1], require_exp=False)
    assert "keyring entry 'jwt-key'" in repr(JwtSigner("keyring:jwt-key"))
    with pytest.raises(ConfigurationError, match="no secret named"):
        JwtSigner(KeyringKey("absent", service="other")).sign({})
    assert seen[-1] == ("absent", "other")


# --- claims and the login flow ---------------------------------------------------------------


def test_claims_have_time_claims_and_unique_jti(keypair: tuple[Path, Path]) -> None:
    auth = JwtAuth(
        "alice",
        "CORP",
        key=keypair[0],
        groups=["Sales", "EU"],
        attributes={"email": "alice@corp.example"},
    )
    claims = auth.claims(now=1_000_000)
    assert claims["userId"] == "alice"
    assert claims["userDirectory"] == "CORP"
    assert claims["groups"] == ["Sales", "EU"]
    assert claims["email"] == "alice@corp.example"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1_000_000, 1_000_000, 1_000_300)
    assert auth.claims()["jti"] != auth.claims()["jti"]


def test_claim_names_are_configurable(keypair: tuple[Path, Path]) -> None:
    auth = JwtAuth(
        "alice",
        "CORP",
        key=keypair[0],
        user_claim="user",
        directory_claim="directory",
        groups_claim="roles",
        groups=["x"],
        lifetime=60,
    )
    claims = verify_jwt(auth.token(), keypair[1], user_claim="user", directory_claim="directory")
    assert (claims["user"], claims["directory"], claims["roles"]) == ("alice", "CORP", ["x"])
    assert claims["exp"] - claims["iat"] == 60
    with pytest.raises(ConfigurationError, match="reserved"):
        JwtAuth("a", "b", key=keypair[0], user_claim="sub")


def test_configuration_errors(keypair: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigurationError, match="signing key"):
        JwtAuth("a", "b")
    with pytest.raises(ConfigurationError, match="empty"):
        JwtAuth("", "b", key=keypair[0])
    with pytest.raises(JwtError):
        JwtAuth("a", "b", key=keypair[0], algorithm="HS256")
    auth = create_authenticator("jwt", user="a", directory="b", key=str(keypair[0]))
    assert isinstance(auth, JwtAuth)


def test_repr_hides_passphrase_and_key(tmp_path: Path) -> None:
    key, _ = make_jwt_keypair(tmp_path / "k.pem", tmp_path / "c.pem", passphrase="pp-secret-1")
    pem = key.read_bytes()
    auth = JwtAuth("a", "b", key=pem, passphrase="pp-secret-1")
    assert "pp-secret-1" not in repr(auth)
    assert "PRIVATE" not in repr(auth)


def test_flow_sends_bearer_once_then_only_the_cookie(keypair: tuple[Path, Path]) -> None:
    flow = JwtAuth("alice", "CORP", key=keypair[0]).login(SITE)
    first = next(flow)
    assert first.url.startswith("https://qlik.example.com/jwt/qrs/about?xrfkey=")
    scheme, token = first.headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    assert verify_jwt(token, keypair[1])["userId"] == "alice"
    second = flow.send(HttpResponse(200, (("Set-Cookie", "X-Qlik-Session-jwt=abc"),), b"{}"))
    assert "Authorization" not in second.headers
    third = flow.send(HttpResponse(204, (("qlik-csrf-token", "c"),)))
    assert "Authorization" not in third.headers
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, (), b'{"userDirectory": "CORP", "userId": "alice"}'))
    assert done.value.value.headers == {}
    assert "Authorization" not in done.value.value.websocket_headers()


def test_a_401_becomes_a_jwt_error_with_the_checklist(keypair: tuple[Path, Path]) -> None:
    flow = JwtAuth("alice", "CORP", key=keypair[0]).login(SITE)
    next(flow)
    # The refusal is followed by one anonymous call that reads the server's clock.
    probe = flow.send(HttpResponse(401, (), b"signature does not verify"))
    assert probe.url == "https://qlik.example.com/jwt/qps/user" and not probe.headers
    server_time = (("Date", email.utils.formatdate(usegmt=True)),)
    with pytest.raises(JwtError) as error:
        flow.send(HttpResponse(200, server_time, b'{"session": "inactive"}'))
    text = str(error.value)
    assert "clock skew" not in text
    assert "signature does not verify" in text
    assert "userId" in text and "certificate" in text
    assert "Bearer" not in text


# --- verify and inspect --------------------------------------------------------------------


def test_verify_names_the_failed_check(
    keypair: tuple[Path, Path], other_keypair: tuple[Path, Path]
) -> None:
    signer = JwtSigner(keypair[0])
    good = {"userId": "u", "userDirectory": "d", "exp": time.time() + 60}
    with pytest.raises(JwtError, match="signature"):
        verify_jwt(signer.sign(good), other_keypair[1])
    with pytest.raises(JwtError, match="expired"):
        verify_jwt(signer.sign({**good, "exp": time.time() - 60}), keypair[1])
    with pytest.raises(JwtError, match="userId"):
        verify_jwt(signer.sign({"user": "u", "userDirectory": "d"}), keypair[1])
    hs = pyjwt.encode(
        {"userId": "u", "userDirectory": "d"}, "a-shared-secret-long-enough-32by", "HS256"
    )
    with pytest.raises(JwtError, match="HS256"):
        verify_jwt(hs, keypair[1])


def test_inspect_flags_what_qlik_rejects(keypair: tuple[Path, Path]) -> None:
    signer = JwtSigner(keypair[0])
    now = time.time()
    good = inspect_jwt(signer.sign({"userId": "u", "userDirectory": "d", "exp": now + 60}))
    assert good.ok and good.header is not None and good.header["alg"] == "RS256"
    hs = pyjwt.encode({"user": "u", "exp": now - 10}, "a-shared-secret-long-enough-32by", "HS256")
    found = inspect_jwt("Bearer " + hs)
    problems = " | ".join(found.problems)
    assert "HS256" in problems
    assert "expired" in problems
    assert "'userId'" in problems and "'userDirectory'" in problems
    assert "no exp" in " ".join(
        inspect_jwt(signer.sign({"userId": "u", "userDirectory": "d"})).problems
    )
    assert not inspect_jwt("not.a.jwt").ok
    assert "encrypted" in inspect_jwt("a.b.c.d.e").problems[0]
    future = inspect_jwt(
        signer.sign({"userId": "u", "userDirectory": "d", "nbf": now + 600, "exp": now + 900})
    )
    assert any("nbf" in p for p in future.problems)


# --- against the emulator's JWT virtual proxy --------------------------------------------------


def _jwt_key(info: EmulatorInfo) -> Path:
    return Path(info.virtual_proxy("jwt")["jwt_private_key"])


class TestJwtContract(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self, qlik_emulator: EmulatorInfo) -> Authenticator:
        return JwtAuth("contract_jwt", "QLIKEMU", key=_jwt_key(qlik_emulator), groups=["g1"])

    @pytest.fixture
    def site(self, qlik_emulator: EmulatorInfo) -> Site:
        return emulator_site(qlik_emulator, "jwt")

    @pytest.fixture
    def expected_user(self) -> QlikUser:
        return QlikUser("QLIKEMU", "contract_jwt")


def _login(info: EmulatorInfo, auth: JwtAuth) -> None:
    site = emulator_site(info, "jwt")
    with HttpTransport(site) as transport:
        credentials = run_flow(auth.login(site), transport)
        run_flow(auth.logout(site, credentials), transport)


def test_wrong_key_for_the_virtual_proxy(
    qlik_emulator: EmulatorInfo, other_keypair: tuple[Path, Path]
) -> None:
    with pytest.raises(JwtError) as error:
        _login(qlik_emulator, JwtAuth("alice", "QLIKEMU", key=other_keypair[0]))
    assert "signature" in str(error.value)
    assert error.value.status == 401


def test_expired_jwt(qlik_emulator: EmulatorInfo) -> None:
    signer = JwtSigner(_jwt_key(qlik_emulator))
    expired = JwtAuth("alice", "QLIKEMU", signer=signer, lifetime=60)
    token = expired.token(now=time.time() - 3600)
    assert any("expired" in p for p in inspect_jwt(token).problems)
    site = emulator_site(qlik_emulator, "jwt")
    with HttpTransport(site) as transport, pytest.raises(JwtError) as error:
        run_flow(exchange_jwt_flow(site, token), transport)
    text = str(error.value)
    assert "token expired" in text  # the proxy's reason
    assert "expired 3" in text  # what the token shows: expired 3540 s ago
    assert token not in text


def test_hs256_token_is_refused_by_the_proxy(qlik_emulator: EmulatorInfo) -> None:
    token = pyjwt.encode(
        {"userId": "alice", "userDirectory": "QLIKEMU", "exp": int(time.time()) + 60},
        "a-shared-secret-long-enough-32by",
        "HS256",
    )
    site = emulator_site(qlik_emulator, "jwt")
    with HttpTransport(site) as transport, pytest.raises(JwtError) as error:
        run_flow(exchange_jwt_flow(site, token), transport)
    assert "HS256" in str(error.value)
    assert error.value.status == 401
    with pytest.raises(JwtError, match="shared-secret"):
        JwtAuth("alice", "QLIKEMU", key=_jwt_key(qlik_emulator), algorithm="HS256")


def test_wrong_claim_name(qlik_emulator: EmulatorInfo) -> None:
    auth = JwtAuth("alice", "QLIKEMU", key=_jwt_key(qlik_emulator), user_claim="user")
    with pytest.raises(JwtError) as error:
        _login(qlik_emulator, auth)
    text = str(error.value)
    assert "userId" in text
    assert "'user'" in text


def test_key_text_with_a_header_is_never_printed() -> None:
    # openssl pkcs12 -nodes puts "Bag Attributes" before the PEM block; such text is key
    # data, not a file name, and must reach neither a repr nor an error message.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    text = "Bag Attributes\n    localKeyID: 01 02\n" + pem
    signer = JwtSigner(text)
    assert "PRIVATE KEY" not in repr(signer)
    assert signer.sign({"userId": "a", "userDirectory": "D"}).count(".") == 2
