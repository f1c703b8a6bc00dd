"""Secrets: every command-line command and every library flow, run with DEBUG logging, and
every secret of the run searched for in all the output, logs, errors and reprs. Found: none.

The secrets are collected where they are born: the emulator's session ids, CSRF tokens and
tickets (its stores are watched), every JWT signed and every Xrfkey made, the passwords,
the PFX password, the admin token and the private keys. What a command prints *on purpose*
(``ticket``, ``jwt mint``, ``headers``, ``cookie``, ``session create``: the secret is the
answer) is left out of the search of its standard output only; its logs and errors are
searched like the rest. Other libraries' log records pass the :class:`SecretFilter`, as
the documentation tells users to do (and ``-v`` does); qlikauth's own are searched raw.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability_support import emulator_site, new_user

from qlikauth.auth.certificate import CertificateAuth
from qlikauth.auth.existing import ExistingSessionAuth
from qlikauth.auth.header import HeaderAuth
from qlikauth.auth.jwt import JwtAuth
from qlikauth.auth.ntlm import NtlmAuth
from qlikauth.auth.session import SessionAuth
from qlikauth.auth.ticket import TicketAuth, redeem_ticket_flow
from qlikauth.cli import main
from qlikauth.client import QlikClient
from qlikauth.emulator.state import SessionStore, TicketStore
from qlikauth.errors import QlikAuthError
from qlikauth.http import HttpTransport, run_flow
from qlikauth.http import values as http_values
from qlikauth.jwt import signing
from qlikauth.logfilter import SecretFilter
from qlikauth.qps import QpsClient
from qlikauth.testing.emulator import EmulatorInfo, running_emulator

#: Commands whose standard output is the secret they were asked for.
PRINTS_A_SECRET = {"ticket", "headers", "cookie", "session create", "jwt mint"}


@dataclass
class Run:
    """The secrets born in this run, and everything it wrote."""

    secrets: set[str] = field(default_factory=set)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def keep(self, where: str, text: object) -> None:
        self.texts.append((where, str(text)))

    def found(self) -> list[str]:
        hits = []
        for secret in sorted(self.secrets):
            for where, text in self.texts:
                if len(secret) >= 8 and secret in text:
                    hits.append(f"{secret[:4]}... in {where}: ...{_around(text, secret)}...")
        return hits


def _around(text: str, secret: str) -> str:
    at = text.index(secret)
    return text[max(0, at - 60) : at].replace("\n", " ")


class _Capture(logging.Handler):
    """Every record at DEBUG; others' records through SecretFilter, as users are told."""

    def __init__(self, run: Run) -> None:
        super().__init__(logging.DEBUG)
        self.run = run
        self.masks = SecretFilter()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("qlikauth.emulator"):
            return  # the server's own diary, not the client's output
        if not record.name.startswith("qlikauth"):
            self.masks.filter(record)
        self.run.keep(f"log {record.name}", self.format(record))


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    found = Run()

    def watch(cls: Any, name: str, pick: Callable[[Any], list[str]]) -> None:
        original = getattr(cls, name)

        def watched(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            found.secrets.update(pick(result))
            return result

        monkeypatch.setattr(cls, name, watched)

    watch(SessionStore, "create", lambda s: [s.session_id, s.csrf_token])
    watch(TicketStore, "issue", lambda ticket: [ticket])
    watch(signing.JwtSigner, "sign", lambda token: [token, token.rsplit(".", 1)[-1]])
    watch(http_values, "new_xrfkey", lambda key: [key])
    handler = _Capture(found)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield found
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
def emu(tmp_path: Path, qlik_emulator_template: Path, run: Run) -> Iterator[EmulatorInfo]:
    with running_emulator(tmp_path / "emu", qlik_emulator_template) as info:
        run.secrets |= {info.pfx_password, info.admin_token}
        run.secrets |= {u["password"] for u in info["windows"]["users"]}
        for key in (
            info.certs_dir / "client_key.pem",
            Path(info.virtual_proxy("jwt")["jwt_private_key"]),
        ):
            body = [line for line in key.read_text().splitlines() if "-----" not in line]
            run.secrets |= set(body[1:-1])  # whole base64 lines of the private key
        yield info


def _jwt_key(info: EmulatorInfo) -> Path:
    return Path(info.virtual_proxy("jwt")["jwt_private_key"])


def _key_lines(key: Path) -> set[str]:
    """The whole base64 lines inside a PEM private key."""
    body = [line for line in key.read_text().splitlines() if "-----" not in line]
    return set(body[1:-1])


def _search_works(run: Run) -> None:
    """The search itself can fail: a secret logged on purpose is found."""
    planted = max(run.secrets)
    logging.getLogger("qlikauth.reliability").debug("planted %s", planted)
    assert any(hit.startswith(planted[:4]) for hit in run.found())
    run.texts.pop()


# --------------------------------------------------------------------------- the library


def test_no_library_flow_shows_a_secret(emu: EmulatorInfo, run: Run, tmp_path: Path) -> None:
    alice = emu.windows_password("alice")
    logins: list[tuple[str, Any]] = [
        ("hdr", HeaderAuth(new_user())),
        ("jwt", JwtAuth(new_user(), "QLIKEMU", key=_jwt_key(emu))),
        ("ticket", TicketAuth(new_user(), "QLIKEMU")),
        ("hdr", SessionAuth(new_user(), "QLIKEMU")),
        ("", NtlmAuth("QLIKEMU\\alice", alice)),
        ("", CertificateAuth(new_user(), "QLIKEMU")),
    ]
    for prefix, auth in logins:
        site = emulator_site(emu, prefix)
        with QlikClient(site, auth) as client:
            credentials = client.credentials()
            run.keep("repr", repr(credentials))
            run.keep("repr", repr(client))
            run.keep("repr", repr(auth))
            run.keep("whoami", client.whoami())
            if prefix:
                run.keep("repr", repr(client.websocket_options(emu.app_id("Sales"))))
                run.keep("get", repr(client.get("qrs/about")))
                doc = client.open_app(emu.app_id("Sales"))
                run.keep("evaluate", doc.evaluate("Sum(Amount)"))
                q_url = doc.create_hypercube(["Region"], ["Sum(Amount)"]).export_data("CSV_C")
                run.keep("download", repr(client.download(q_url, tmp_path / "x.csv")))
                borrowed = ExistingSessionAuth(session_id=credentials.session_id or "")
                with QlikClient(site, borrowed) as other:
                    run.keep("repr", repr(other.credentials()))
    with QpsClient(emulator_site(emu, "ticket")) as qps:
        ticket = qps.issue_ticket("QLIKEMU\\" + new_user())
        run.keep("repr", repr(ticket))
        run.keep("repr", [repr(s) for s in qps.list_sessions()])
    for failure in _failures(emu, tmp_path):
        run.keep("error", str(failure))
        run.keep("error", repr(failure))
        run.keep("error", repr(failure.args))
    assert run.found() == []
    assert len(run.secrets) > 40  # the run did make secrets to look for
    _search_works(run)


def _failures(info: EmulatorInfo, tmp_path: Path) -> Iterator[QlikAuthError]:
    """Flows that fail, each with the secrets it held."""
    attempts: list[Callable[[], object]] = [
        lambda: QlikClient(
            emulator_site(info, ""), NtlmAuth("QLIKEMU\\bob", "Wr0ng-Pass!")
        ).whoami(),
        lambda: QlikClient(
            emulator_site(info, "hdr"), ExistingSessionAuth(session_id="0f1e2d3c4b5a69788796a5b4")
        ).whoami(),
        lambda: QlikClient(
            emulator_site(info, "jwt"),
            JwtAuth(new_user(), "QLIKEMU", key=_jwt_key(info), clock=lambda: 0.0),
        ).whoami(),
    ]
    for attempt in attempts:
        try:
            attempt()
        except QlikAuthError as exc:
            yield exc
    site = emulator_site(info, "ticket")
    with QpsClient(site) as qps, HttpTransport(site) as transport:
        ticket = qps.issue_ticket("QLIKEMU\\" + new_user())
        for _ in range(2):  # the second redemption is refused: a ticket is good once
            try:
                run_flow(redeem_ticket_flow(site, ticket), transport)
            except QlikAuthError as exc:
                yield exc


# --------------------------------------------------------------------------- the command line


def _profile(info: EmulatorInfo, path: Path, user: str) -> None:
    ports = info["ports"]
    path.write_text(
        'default_profile = "emu"\n[profiles.emu]\nserver = "localhost"\nprefix = "hdr"\n'
        f'cookie_name = "{info.cookie_name("hdr")}"\ncerts = "{info.certs_dir}"\n'
        f'authenticator = "header"\nproxy_port = {ports["proxy"]}\nqps_port = {ports["qps"]}\n'
        f"qrs_port = {ports['qrs']}\nengine_port = {ports['engine']}\ntimeout = 10\n"
        f'[profiles.emu.auth]\nuser = "{user}"\nheader_name = "header_user"\n',
        encoding="utf-8",
    )


def test_no_command_shows_a_secret(
    emu: EmulatorInfo,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config.toml"
    user = new_user()
    _profile(emu, config, user)
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(config))
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    keys = tmp_path / "jwtkeys"
    minted: list[str] = []
    commands: list[tuple[str, list[str]]] = [
        ("login", ["login", "-vv"]),
        ("whoami", ["whoami", "-vv"]),
        ("whoami", ["whoami", "--json", "-vv"]),
        ("ticket", ["ticket", "--user", f"QLIKEMU\\{new_user()}", "--prefix", "ticket", "-vv"]),
        ("ticket", ["ticket", "--user", f"QLIKEMU\\{new_user()}", "--prefix", "ticket",
                    "--redirect"]),
        ("session create", ["session", "create", "--user", f"QLIKEMU\\{user}x", "-vv"]),
        ("session list", ["session", "list", "--user", f"QLIKEMU\\{user}x", "-vv"]),
        ("session list", ["session", "list", "--json", "-vv"]),
        ("session delete", ["session", "delete", "--user", f"QLIKEMU\\{user}x", "-vv"]),
        ("headers", ["headers", "--format", "json", "-vv"]),
        ("headers", ["headers", "--format", "curl", "-vv"]),
        ("cookie", ["cookie", "-vv"]),
        ("exec", ["exec", "-vv", "--", sys.executable, "-c", "import os; print(len(os.environ))"]),
        ("doclist", ["doclist", "-vv"]),
        ("eval", ["eval", "Sales", "Sum(Amount)", "-vv"]),
        ("export", ["export", "Sales", "--dims", "Region", "--measures", "Sum(Amount)",
                    "-o", str(tmp_path / "sales.csv"), "-vv"]),
        ("doctor", ["doctor", "-vv"]),
        ("profile list", ["profile", "list"]),
        ("profile show", ["profile", "show", "--json"]),
        ("certs check", ["certs", "check", str(emu.certs_dir), "-vv"]),
        ("jwt keygen", ["jwt", "keygen", "--out", str(keys)]),
        ("jwt mint", ["jwt", "mint", "--user", "alice", "--directory", "QLIKEMU",
                      "--key", str(_jwt_key(emu))]),
        ("jwt verify", ["jwt", "verify", "--token-env", "MINTED", "--cert",
                        str(emu.virtual_proxy("jwt")["jwt_certificate"])]),
        ("jwt inspect", ["jwt", "inspect", "--token-env", "MINTED", "--json"]),
        ("completion", ["completion", "bash"]),
        ("demo", ["demo", "--keep", str(tmp_path / "demo")]),
        ("logout", ["logout", "-vv"]),
        ("whoami", ["whoami", "--prefix", "nosuch", "-vv"]),  # fails: its error is searched
    ]  # fmt: skip
    codes: list[tuple[str, int]] = []
    for name, argv in commands:
        code = main(argv)
        codes.append((name, code))
        out, err = capsys.readouterr()
        if name == "jwt mint":
            minted.append(out.strip())
            monkeypatch.setenv("MINTED", out.strip())
        if name not in PRINTS_A_SECRET:
            run.keep(f"stdout of {' '.join(argv[:2])} (exit {code})", out)
        run.keep(f"stderr of {' '.join(argv[:2])} (exit {code})", err)
    run.secrets |= {line for line in minted if line} | _key_lines(keys / "jwt_key.pem")
    assert run.found() == [], "\n".join(run.found())
    assert [name for name, code in codes if code != 0] == ["whoami"]  # only the one meant to
    assert any("-> HttpRequest(GET" in text for _, text in run.texts)  # it did log requests
    _search_works(run)
