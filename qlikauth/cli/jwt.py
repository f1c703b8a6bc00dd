"""``qlikauth jwt keygen|mint|verify|inspect``: JWTs for a QSEoW JWT virtual proxy.

``keygen`` writes a signing key (0600) and the certificate to paste into the virtual proxy,
and says what to set in the QMC. ``mint`` signs a token with the profile's key and claim
names (options override them). ``verify`` and ``inspect`` read the token from standard
input or from an environment variable (``--token-env``) - a token is a secret and never
travels on the command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from qlikauth.auth.jwt import JwtAuth
from qlikauth.cli._common import EXIT_FAILURE, EXIT_OK, common_options, emit, show_help
from qlikauth.cli._context import command, load_config, options_from
from qlikauth.config import authenticator_settings
from qlikauth.errors import ConfigurationError, UsageError
from qlikauth.jwt import ALGORITHMS, inspect_jwt, make_jwt_keypair, verify_jwt

__all__ = ["read_token", "register"]

_KEY_FILE = "jwt_key.pem"
_CERT_FILE = "jwt_cert.pem"
#: The JwtAuth settings ``mint`` takes from a profile whose authenticator is ``jwt``.
_MINT_SETTINGS = (
    "user",
    "directory",
    "key",
    "passphrase",
    "algorithm",
    "groups",
    "attributes",
    "lifetime",
    "user_claim",
    "directory_claim",
    "groups_claim",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth jwt keygen|mint|verify|inspect``."""
    jwt = subparsers.add_parser(
        "jwt",
        help="make signing keys, mint, verify and inspect JWTs for a JWT virtual proxy",
        description="JWTs as a Qlik Sense JWT virtual proxy takes them (RS256/384/512).",
    )
    jwt.set_defaults(handler=show_help(jwt))
    commands = jwt.add_subparsers(title="jwt commands", metavar="COMMAND")

    keygen = commands.add_parser(
        "keygen",
        parents=[common_options(scope="output")],
        help="write a signing key and the certificate for the virtual proxy",
        description=f"Write DIR/{_KEY_FILE} (mode 0600) and DIR/{_CERT_FILE}, and print what "
        "to set in the QMC. The key passphrase (optional) comes from --passphrase-env.",
    )
    keygen.add_argument("--out", required=True, metavar="DIR", help="folder for the two files")
    keygen.add_argument("--passphrase-env", metavar="VAR", help="encrypt the key with $VAR")
    keygen.add_argument("--days", type=int, default=825, help="certificate validity (825)")
    keygen.add_argument("--force", action="store_true", help="replace existing files")
    keygen.set_defaults(handler=_keygen)

    mint = commands.add_parser(
        "mint",
        parents=[common_options(scope="profile")],
        help="sign a token (defaults from the profile's jwt settings)",
        description="Sign a JWT for USER. Defaults come from the profile when its "
        "authenticator is jwt (key, claim names, lifetime); options override them.",
    )
    _claim_name_options(mint)
    mint.add_argument("--user", help="user id")
    mint.add_argument("--directory", help="user directory")
    mint.add_argument("--key", help="PEM private key file, or keyring:NAME")
    mint.add_argument("--passphrase-env", metavar="VAR", help="the key's passphrase is in $VAR")
    mint.add_argument("--algorithm", choices=ALGORITHMS, help="signing algorithm (RS256)")
    mint.add_argument("--group", dest="groups", action="append", help="a group (repeatable)")
    mint.add_argument(
        "--claim",
        dest="claims",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra claim; VALUE is a TOML literal or text (repeatable)",
    )
    mint.add_argument("--lifetime", type=float, help="seconds until exp (default 300)")
    mint.set_defaults(handler=_mint)

    verify = commands.add_parser(
        "verify",
        parents=[common_options(scope="profile")],
        help="check a token's signature, expiry and claims as the proxy would",
        description="Verify a token (from stdin or --token-env) against the virtual "
        "proxy's JWT certificate.",
    )
    _token_options(verify)
    _claim_name_options(verify)
    verify.add_argument("--cert", required=True, help="the virtual proxy's JWT certificate")
    verify.add_argument("--leeway", type=float, default=0.0, help="seconds of clock leeway")
    verify.set_defaults(handler=_verify)

    inspect = commands.add_parser(
        "inspect",
        parents=[common_options(scope="profile")],
        help="decode a token and flag what the JWT virtual proxy would reject",
        description="Decode a token (from stdin or --token-env) without verifying it and "
        "list problems: algorithm, expiry, not-before, missing claims. Exit 1 when there "
        "are problems.",
    )
    _token_options(inspect)
    _claim_name_options(inspect)
    inspect.set_defaults(handler=_inspect)


def _token_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-env", metavar="VAR", help="read the token from $VAR (default: stdin)"
    )


def _claim_name_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-claim", help="claim carrying the user id (userId)")
    parser.add_argument("--directory-claim", help="claim carrying the directory (userDirectory)")


def read_token(args: argparse.Namespace) -> str:
    """The token from ``--token-env`` or standard input (a prompt without echo on a TTY)."""
    if args.token_env:
        token = os.environ.get(args.token_env)
        if token is None:
            raise ConfigurationError(
                f"the environment variable {args.token_env} is not set",
                hint=f"export {args.token_env}=<token>, or pipe the token to stdin",
            )
    elif sys.stdin.isatty():
        from qlikauth.keystore import prompt_secret

        token = prompt_secret("JWT: ")
    else:
        token = sys.stdin.read()
    token = token.strip()
    if not token:
        raise ConfigurationError(
            "no token was given", hint="pipe it in (… | qlikauth jwt inspect) or use --token-env"
        )
    return token


def _env_secret(var: str | None) -> str | None:
    if not var:
        return None
    value = os.environ.get(var)
    if value is None:
        raise ConfigurationError(
            f"the environment variable {var} is not set", hint=f"export {var}=..."
        )
    return value


def _profile_jwt_settings(args: argparse.Namespace, *, secrets: bool = True) -> dict[str, Any]:
    """The profile's jwt authenticator settings, or nothing when it uses another one.

    Without ``secrets`` no reference is resolved (claim names are all that is wanted).
    """
    name, settings = authenticator_settings(
        getattr(args, "profile", None),
        config=load_config(args),
        options=options_from(args),
        resolve_references=secrets,
    )
    if name != "jwt":
        return {}
    return {k: v for k, v in settings.items() if k in _MINT_SETTINGS}


def _claim_names(args: argparse.Namespace, settings: dict[str, Any]) -> tuple[str, str]:
    user_claim = args.user_claim or settings.get("user_claim") or "userId"
    directory_claim = args.directory_claim or settings.get("directory_claim") or "userDirectory"
    return str(user_claim), str(directory_claim)


def _claim_value(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise ConfigurationError(
            f"--claim {text!r} is not NAME=VALUE", hint="For example --claim email=a@b.example"
        )
    try:
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return name.strip(), value


@command
def _keygen(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    key_path, cert_path = out / _KEY_FILE, out / _CERT_FILE
    if out.exists() and not out.is_dir():
        raise ConfigurationError(
            f"--out {out} is a file, not a folder", hint="name a folder for the two files"
        )
    existing = [p.name for p in (key_path, cert_path) if p.exists()]
    if existing and not args.force:
        raise ConfigurationError(
            f"{out} already holds {', '.join(existing)}",
            hint="Pass --force to replace them (tokens signed with the old key stop working).",
        )
    if not out.exists():
        out.mkdir(mode=0o700, parents=True)
    passphrase = _env_secret(args.passphrase_env)
    make_jwt_keypair(key_path, cert_path, passphrase=passphrase, days=args.days)
    certificate = cert_path.read_text(encoding="ascii")
    qmc = {
        "Authentication method": "JWT",
        "JWT certificate": f"the whole text of {cert_path} (printed below)",
        "JWT attribute for user ID": "userId",
        "JWT attribute for user directory": "userDirectory",
    }
    lines = [
        f"wrote {key_path} (private: keep it secret, mode 0600) and {cert_path}",
        "",
        "In the QMC: Virtual proxies > your JWT virtual proxy > Authentication:",
        *(f"  {k}: {v}" for k, v in qmc.items()),
        "  and link the virtual proxy to a proxy, with the host in its allow list.",
        "",
        "Then a profile that signs with the key:",
        f"  qlikauth profile add NAME --server HOST --prefix PREFIX --authenticator jwt "
        f"--set auth.key={key_path} --set auth.user=USER --set auth.directory=DIR"
        + (f" --set auth.passphrase=env:{args.passphrase_env}" if passphrase else ""),
        "",
        certificate.rstrip(),
    ]
    data = {
        "ok": True,
        "key": str(key_path),
        "certificate": str(cert_path),
        "certificate_pem": certificate,
        "encrypted": passphrase is not None,
        "qmc": qmc,
    }
    emit(args, data, "\n".join(lines))
    return EXIT_OK


@command
def _mint(args: argparse.Namespace) -> int:
    settings = _profile_jwt_settings(args)
    for name in ("user", "directory", "key", "algorithm", "lifetime", "user_claim"):
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    if args.directory_claim:
        settings["directory_claim"] = args.directory_claim
    if args.groups:
        if not all(group.strip() for group in args.groups):
            raise UsageError(
                "--group needs a group name, not an empty one",
                hint="For example --group Sales (repeat --group for more).",
            )
        settings["groups"] = args.groups
    passphrase = _env_secret(args.passphrase_env)
    if passphrase is not None:
        settings["passphrase"] = passphrase
    if args.claims:
        settings["attributes"] = {
            **dict(settings.get("attributes") or {}),
            **dict(_claim_value(c) for c in args.claims),
        }
    missing = [n for n in ("user", "directory", "key") if not settings.get(n)]
    if missing:
        raise ConfigurationError(
            f"jwt mint needs {', '.join('--' + n for n in missing)}",
            hint="Pass them, or use a profile whose authenticator is jwt "
            "(qlikauth profile add ... --authenticator jwt --set auth.key=...).",
        )
    try:
        auth = JwtAuth(**settings)
    except TypeError as exc:
        raise ConfigurationError(f"bad jwt settings: {exc}") from exc
    claims = auth.claims()
    assert auth.signer is not None
    token = auth.signer.sign(claims)
    expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
    data = {
        "ok": True,
        "token": token,
        "claims": claims,
        "algorithm": auth.signer.algorithm,
        "expires_at": expires.isoformat(timespec="seconds"),
    }
    emit(args, data, token)
    return EXIT_OK


@command
def _verify(args: argparse.Namespace) -> int:
    token = read_token(args)
    user_claim, directory_claim = _claim_names(args, _profile_jwt_settings(args, secrets=False))
    claims = verify_jwt(
        token,
        Path(args.cert).expanduser(),
        user_claim=user_claim,
        directory_claim=directory_claim,
        leeway=args.leeway,
    )
    user = f"{claims[directory_claim]}\\{claims[user_claim]}"
    emit(
        args,
        {"ok": True, "valid": True, "user": user, "claims": claims},
        f"valid: signed by the key of {args.cert}, for {user}",
    )
    return EXIT_OK


def _when(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
        return f"{value} ({moment.isoformat(timespec='seconds')})"
    return repr(value)


@command
def _inspect(args: argparse.Namespace) -> int:
    token = read_token(args)
    user_claim, directory_claim = _claim_names(args, _profile_jwt_settings(args, secrets=False))
    found = inspect_jwt(token, user_claim=user_claim, directory_claim=directory_claim)
    header = dict(found.header) if found.header is not None else None
    claims = dict(found.claims) if found.claims is not None else None
    lines = []
    if header is not None:
        lines.append("header: " + ", ".join(f"{k}={v!r}" for k, v in header.items()))
    if claims is not None:
        lines.append("claims:")
        for key, value in claims.items():
            shown = _when(value) if key in ("exp", "nbf", "iat") else repr(value)
            lines.append(f"  {key}: {shown}")
    if found.ok:
        lines.append("ok: nothing a JWT virtual proxy would reject (signature not checked)")
    lines += [f"problem: {p}" for p in found.problems]
    data = {"ok": found.ok, "header": header, "claims": claims, "problems": list(found.problems)}
    emit(args, data, "\n".join(lines))
    return EXIT_OK if found.ok else EXIT_FAILURE
