"""``qlikauth certs``: make a test certificate set, and check a real or test one.

``make-test DIR --server NAME...`` writes a root, a server certificate for the names and a
client certificate, laid out like a QMC PEM export, plus ``client.pfx``. The PFX password
never travels on the command line: it comes from ``QLIKAUTH_PFX_PASSWORD`` or is generated
and written to ``DIR/client.pfx.password`` (mode 0600).

``check PATH`` diagnoses a certificate folder or a ``.pfx`` file and exits 4 when something
is wrong; ``--server`` adds the host-name checks, ``--connect`` a real handshake.

Both once said ``--host`` where every other command says ``--server``: ``--host`` still
works, with a warning on stderr, until the next release. The profile options mean nothing
here, so only ``--json`` and ``-v`` of the common options are offered.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from qlikauth._files import atomic_write
from qlikauth.cli._common import (
    EXIT_CONFIG,
    EXIT_OK,
    add_insecure_option,
    add_timeout_option,
    common_options,
    emit,
    show_help,
)
from qlikauth.errors import ConfigurationError, TlsError, UsageError
from qlikauth.pki import make_test_pki
from qlikauth.site import check_host
from qlikauth.tls.bundle import CertificateBundle, diagnose
from qlikauth.tls.contexts import TlsConfig
from qlikauth.tls.diagnosis import Finding
from qlikauth.tls.handshake import check_connection

__all__ = ["PASSWORD_ENV", "PASSWORD_FILE", "register"]

#: Environment variable that supplies the PFX password to ``make-test``.
PASSWORD_ENV = "QLIKAUTH_PFX_PASSWORD"  # noqa: S105 (a variable name, not a secret)
#: Where ``make-test`` writes a generated PFX password, inside the target folder.
PASSWORD_FILE = "client.pfx.password"  # noqa: S105 (a file name)

_OUTPUT_FILES = (
    "root.pem",
    "root_key.pem",
    "server.pem",
    "server_key.pem",
    "client.pem",
    "client_key.pem",
    "client.pfx",
)
_ROLES = {
    "root.pem": "root CA certificate: the trust anchor (give it to clients)",
    "root_key.pem": "root CA private key: signs the others (test only; a QMC export has none)",
    "server.pem": "server certificate for {hosts}",
    "server_key.pem": "server private key",
    "client.pem": "client certificate (CN=QlikClient) for mutual TLS",
    "client_key.pem": "client private key",
    "client.pfx": "client certificate + key as PKCS#12 (Windows format export)",
    PASSWORD_FILE: "the generated client.pfx password (mode 0600)",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth certs make-test`` and ``qlikauth certs check``."""
    certs = subparsers.add_parser(
        "certs",
        help="make a test certificate set, or check a certificate export",
        description="Certificate sets as the QMC exports them (PEM folder or client.pfx).",
    )
    certs.set_defaults(handler=show_help(certs))
    commands = certs.add_subparsers(title="certs commands", metavar="COMMAND")

    make = commands.add_parser(
        "make-test",
        parents=[common_options(site=False)],
        help="create a test root, server and client certificate set",
        description="Create root.pem, server.pem, client.pem (+ keys) and client.pfx in DIR, "
        "laid out like a QMC PEM export. Never use them in production. The PFX password "
        f"is read from ${PASSWORD_ENV} or generated into DIR/{PASSWORD_FILE}.",
    )
    make.add_argument("directory", metavar="DIR", help="folder to create the files in")
    server_help = "a name (or IP) the server certificate holds; repeat for more"
    make.add_argument("--server", action="append", default=[], metavar="NAME", help=server_help)
    make.add_argument(
        "--host", action=_DeprecatedHost, append=True, metavar="NAME", help=argparse.SUPPRESS
    )
    make.add_argument("--days", type=int, default=825, help="validity in days (default 825)")
    make.add_argument("--force", action="store_true", help="overwrite an existing set in DIR")
    make.set_defaults(handler=_make_test)

    check = commands.add_parser(
        "check",
        parents=[common_options(site=False)],
        help="diagnose a certificate folder or client.pfx; exit 4 on a problem",
        description="Check that the files exist, belong together, are in date, are signed by "
        "the root and are private; with --server, that the certificates name the host; with "
        "--connect, that a real handshake works.",
    )
    check.add_argument("path", metavar="PATH", help="certificate folder, or a .pfx file")
    check.add_argument(
        "--server", metavar="NAME", help="the Qlik host name exactly as you will connect to it"
    )
    check.add_argument("--host", action=_DeprecatedHost, metavar="NAME", help=argparse.SUPPRESS)
    check.add_argument(
        "--pfx-password-env",
        "--passphrase-env",
        dest="password_env",
        metavar="VAR",
        help="environment variable holding the PFX password or the key passphrase",
    )
    check.add_argument(
        "--connect",
        nargs="?",
        const=4243,
        type=int,
        metavar="PORT",
        help="also make a TLS handshake with --server on PORT (default 4243, the QPS)",
    )
    options = check.add_argument_group("--connect options")
    add_insecure_option(options)
    add_timeout_option(options)
    check.set_defaults(handler=_check)


class _DeprecatedHost(argparse.Action):
    """``--host NAME``: the old spelling of ``--server NAME``; it still works, and says so."""

    def __init__(self, *args: Any, append: bool = False, **kwargs: Any) -> None:
        self.append = append
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(
            "warning: --host is deprecated and goes in the next release; say --server "
            "(as every other command does)",
            file=sys.stderr,
        )
        value = [*(getattr(namespace, "server", None) or []), values] if self.append else values
        namespace.server = value


def _make_test(args: argparse.Namespace) -> int:
    directory = Path(args.directory).expanduser()
    if args.days < 1:
        raise ConfigurationError("--days must be at least 1", hint="for example --days 825")
    if not args.server:
        raise UsageError(
            "say which names the server certificate holds: --server NAME (repeat for more)",
            hint="for example --server qlik.example.com --server localhost",
        )
    hosts = [h.strip() for h in args.server]
    bad = [h for h in hosts if not h or (any(c in h for c in "/:@ \t\r\n") and not _is_ipv6(h))]
    if bad:
        raise ConfigurationError(
            f"not a host name: {bad[0]!r}",
            hint="give a bare name or IP address, without scheme, port or path "
            "(--server qlik.example.com)",
        )
    existing = [n for n in (*_OUTPUT_FILES, PASSWORD_FILE) if (directory / n).exists()]
    if existing and not args.force:
        raise ConfigurationError(
            f"{directory} already holds {', '.join(existing)}",
            hint="choose an empty folder, or pass --force to replace a test set",
        )
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)  # one private folder per site
    from_env = os.environ.get(PASSWORD_ENV)
    password = from_env or secrets.token_urlsafe(18)
    pki = make_test_pki(directory, hosts, pfx_password=password, days=args.days)
    if from_env:
        (directory / PASSWORD_FILE).unlink(missing_ok=True)  # a stale one would mislead
    else:
        atomic_write(directory / PASSWORD_FILE, password.encode() + b"\n", mode=0o600)
    made = [*_OUTPUT_FILES, *([] if from_env else [PASSWORD_FILE])]
    files = {name: str(pki.directory / name) for name in made}
    lines = [f"made a test certificate set in {pki.directory} (never use it in production):"]
    for name in made:
        lines.append(f"  {name:<22} {_ROLES[name].format(hosts=', '.join(hosts))}")
    source = f"${PASSWORD_ENV}" if from_env else f"{PASSWORD_FILE} (generated)"
    lines.append(f"client.pfx password: in {source}")
    lines.append(f"check it: qlikauth certs check {pki.directory} --server {hosts[0]}")
    data: dict[str, Any] = {
        "ok": True,
        "directory": str(pki.directory),
        "hosts": hosts,
        "files": files,
        "pfx_password_source": "environment" if from_env else "file",
    }
    emit(args, data, "\n".join(lines))
    return EXIT_OK


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


def _password(args: argparse.Namespace) -> str | None:
    if not args.password_env:
        return None
    value = os.environ.get(args.password_env)
    if value is None:
        raise ConfigurationError(
            f"the environment variable {args.password_env} is not set",
            hint=f"export {args.password_env}=... with the PFX password or key passphrase",
        )
    return value


def _check(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    if args.server is not None:
        try:
            check_host(args.server.strip("[]"))
        except ConfigurationError as exc:
            raise UsageError(f"--server: {exc.message}", hint=exc.hint) from None
    password = _password(args)
    if password is None and _needs_password(path):
        password = _sidecar_password(path)
    findings = diagnose(path, passphrase=password, host=args.server)
    if args.connect is not None:
        findings += _connect(args, path, password)
    ok = not any(f.level == "error" for f in findings)
    if getattr(args, "json", False):
        print(json.dumps([f.to_dict() for f in findings], indent=2))
    else:
        print("\n".join(str(f) for f in findings))
        counts = {lvl: sum(f.level == lvl for f in findings) for lvl in ("error", "warning")}
        verdict = "ok" if ok else "PROBLEM"
        print(f"{verdict}: {counts['error']} error(s), {counts['warning']} warning(s)")
    return EXIT_OK if ok else EXIT_CONFIG


def _needs_password(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in (".pfx", ".p12")
    return (path / "client.pfx").is_file() and not (path / "client.pem").exists()


def _sidecar_password(path: Path) -> str | None:
    """The password ``make-test`` generated, read from its 0600 file beside the PFX."""
    folder = path.parent if path.is_file() else path
    candidate = folder / PASSWORD_FILE
    try:
        return candidate.read_text().strip() or None
    except OSError:
        return None


def _connect(args: argparse.Namespace, path: Path, password: str | None) -> list[Finding]:
    if not args.server:
        raise UsageError("--connect needs --server", hint="--server qlik.example.com")
    try:
        bundle = CertificateBundle.from_folder(path, passphrase=password)
        config = TlsConfig(bundle=bundle, verify=not args.insecure)
    except TlsError as exc:
        return [Finding("error", f"cannot connect: {exc.message}", exc.hint)]
    return check_connection(args.server, args.connect, config=config, timeout=args.timeout or 10.0)
