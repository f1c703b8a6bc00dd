"""Every command, every option, one deliberately wrong value each: a clean error, never a
traceback.

The commands and options come from the parser itself (``build_parser``), not from a list
here: a new option without a wrong value below fails :func:`test_every_option_has_a_wrong_value`
until one is chosen. Each case runs ``main(argv)`` in-process against the emulator, with the
other arguments valid, and checks

* no exception escapes ``main`` (no traceback) and nothing is printed as one;
* the exit code is a documented one: 2 for a value the parser refuses, else the code of the
  error kind the command reports (``exit_code_for``: 1, 3 or 4);
* with ``--json``, stdout is one JSON error object (``ok: false``, the error's class,
  message, hint), and the exit code is the one of that class.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import qlikauth.errors
from qlikauth.cli import build_parser, main
from qlikauth.cli._common import exit_code_for
from qlikauth.testing.emulator import EmulatorInfo

USER = "QLIKEMU\\everyoption"

#: Valid values of required arguments, by (command, dest) or by dest alone. Placeholders in
#: braces are filled in per test ({tmp}, {certs}, {jwt_key}, {jwt_cert}, {info_file}).
VALID: dict[tuple[str, str] | str, list[str]] = {
    "app": ["Sales"],
    "expression": ["Sum(Amount)"],
    "output": ["{tmp}/out.csv"],
    "shell": ["words"],
    ("certs make-test", "directory"): ["{tmp}/made"],
    ("certs make-test", "server"): ["localhost"],
    ("certs check", "path"): ["{certs}"],
    ("profile add", "name"): ["fresh"],
    ("profile show", "name"): ["emu"],
    ("profile use", "name"): ["emu"],
    ("profile remove", "name"): ["emu"],
    ("jwt keygen", "out"): ["{tmp}/keys"],
    ("jwt verify", "cert"): ["{jwt_cert}"],
    "qurl": ["/tempcontent/no-such-export/missing.csv"],
    "user": [USER],
}

#: What else a command needs to do its job, besides its required arguments.
BASE: dict[str, list[str]] = {
    "session delete": ["--user", USER],
    "export": ["--dims", "Region"],
    "exec": ["--", "true"],
    "jwt mint": ["--key", "{jwt_key}", "--user", "everyoption", "--directory", "QLIKEMU"],
    "jwt verify": ["--token-env", "QLIKAUTH_EVERY_TOKEN"],
    "jwt inspect": ["--token-env", "QLIKAUTH_EVERY_TOKEN"],
    "broker": ["--check"],
}

#: A wrong value for each free-text argument, by (command, dest) or by dest alone.
WRONG: dict[tuple[str, str] | str, str] = {
    "profile": "no-such-profile",
    "config": "{tmp}",  # a folder, not a file
    "server": "bad host/name",
    "prefix": "no/such/prefix",
    "certs": "{tmp}/no-such-certs",
    "user": "",
    ("ticket", "directory"): "BAD\\DIR",
    ("session create", "directory"): "BAD\\DIR",
    ("session list", "directory"): "BAD\\DIR",
    ("session delete", "directory"): "BAD\\DIR",
    ("jwt mint", "directory"): "",
    "attributes": "no-equals-sign",
    "target_id": "not-a-target-id",
    "out": "{certs}/root.pem",  # a file, not a folder
    "passphrase_env": "QLIKAUTH_NO_SUCH_VARIABLE",
    "password_env": "QLIKAUTH_NO_SUCH_VARIABLE",
    "token_env": "QLIKAUTH_NO_SUCH_VARIABLE",
    "user_claim": "no_such_claim",
    "directory_claim": "no_such_claim",
    "key": "{tmp}/no-such-key.pem",
    "groups": "",
    "claims": "no-equals-sign",
    "cert": "{tmp}/no-such-cert.pem",
    "app": "NoSuchApp",
    "expression": "Sum(Amount",
    "dims": "NoSuchField",
    "measures": "Sum(",
    "output": "{tmp}",  # a folder, not a file
    ("download", "output"): "{certs}/root.pem",  # exists, and no --force
    "qurl": "https://elsewhere.example/tempcontent/x.csv",  # not the site
    "cmd": "qlikauth-no-such-command",
    "address": "not an address",
    "accept_host": "bad host/name",
    "unix_socket": "{tmp}/no-such-folder/proxy.sock",
    "token_file": "{certs}/root.pem/token",  # under a file: no folder can be made
    ("profile add", "name"): "bad name!",
    ("profile show", "name"): "no-such-profile",
    ("profile use", "name"): "no-such-profile",
    ("profile remove", "name"): "no-such-profile",
    "cookie_name": "bad;cookie",
    "authenticator": "no-such-authenticator",
    "settings": "no-equals-sign",
    "prompt_secrets": "server",  # not a secret setting
    "from_emulator": "{tmp}/no-such-emulator.json",
    ("certs make-test", "directory"): "{certs}/root.pem",  # a file, not a folder
    ("certs make-test", "server"): "bad host/name",
    ("certs make-test", "host"): "bad host/name",
    ("certs check", "path"): "{tmp}/no-such-certs",
    ("certs check", "host"): "bad host/name",
    ("emulator", "host"): "bad host/name",
    "state_dir": "{certs}/root.pem",  # a file, not a folder
    "info_file": "{certs}/root.pem/emulator.json",  # under a file: no folder can be made
    "keep": "{certs}/root.pem",  # a file, not a folder
}

#: Arguments that no value makes wrong, and why.
NOTHING_WRONG = {
    ("ticket", "target_id"): "an opaque id the proxy gave in a redirect; QPS judges it",
    ("jwt mint", "user_claim"): "any claim name: the virtual proxy's configuration decides",
    ("jwt mint", "directory_claim"): "any claim name: the virtual proxy's configuration decides",
    ("completion", "words"): "the words typed so far: any are valid",
    ("completion", "config"): "hidden; a file the candidates' profile names come from",
}

#: Known gaps: the value is accepted although it is wrong. Not run (a server would start and
#: wait); each is a bug to fix, then to take out of this table.
PENDING: dict[tuple[str, str], str] = {}

#: Commands whose documented output is a report of findings (with --json: a report object
#: or a list of findings), not one error.
REPORTS = {"doctor", "certs check", "jwt inspect"}

#: Exit codes documented for one command and argument (exec: what a shell returns; a
#: malformed host name or an empty group is a usage error).
EXIT_CODES = {
    ("exec", "cmd"): 127,
    ("proxy", "accept_host"): 2,
    ("emulator", "host"): 2,
    ("certs check", "server"): 2,
    ("certs check", "host"): 2,
    ("jwt mint", "groups"): 2,
}


@dataclass(frozen=True)
class Case:
    """One run: a command, one argument given a wrong value, and whether --json is on."""

    command: str
    dest: str
    argv: tuple[str, ...]
    parser_refuses: bool
    json: bool

    @property
    def id(self) -> str:
        return f"{self.command}:{self.dest}" + (":json" if self.json else "")


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    skip = (argparse._HelpAction, argparse._VersionAction)
    return [a for a in parser._actions if not isinstance(a, skip)]


def _lookup(
    table: dict[tuple[str, str] | str, list[str]] | dict[tuple[str, str] | str, str],
    command: str,
    dest: str,
) -> object:
    if (command, dest) in table:
        return table[(command, dest)]
    return table.get(dest)


def _valid(command: str, action: argparse.Action) -> list[str]:
    value = _lookup(VALID, command, action.dest)
    if value is None:
        raise LookupError(f"no valid value for required {command} {action.dest}: add one to VALID")
    assert isinstance(value, list)
    return [*action.option_strings[-1:], *value]


def _wrong(command: str, action: argparse.Action) -> tuple[list[str], bool] | None:
    """The wrong argument words, and whether the parser itself refuses them."""
    if (command, action.dest) in NOTHING_WRONG:
        return None
    option = action.option_strings[-1] if action.option_strings else None
    if action.nargs == 0:
        assert option is not None
        return [f"{option}=oops"], True  # a flag takes no value
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return [*([option] if option else []), "no-such-choice"], True
    if action.type is not None:
        return [*([option] if option else []), "not-a-number"], True
    value = _lookup(WRONG, command, action.dest)
    if value is None:
        raise LookupError(f"no wrong value for {command} {action.dest}: add one to WRONG")
    assert isinstance(value, str)
    return [*([option] if option else []), value], False


def _cases() -> list[Case]:
    cases = []
    for command, parser in _leaves(build_parser()):
        arguments = _arguments(parser)
        takes_json = any(a.dest == "json" for a in arguments)
        for action in arguments:
            wrong = _wrong(command, action)
            if wrong is None:
                continue
            words, refused = wrong
            argv = _argv(command, parser, action, words)
            if action.dest == "json":  # --json=oops: a usage error, said as JSON
                cases.append(Case(command, action.dest, argv, refused, True))
                continue
            for as_json in (False, True) if takes_json else (False,):
                at = len(command.split())  # --json before any "--" and what follows it
                flag = ("--json",) if as_json else ()
                cases.append(
                    Case(command, action.dest, (*argv[:at], *flag, *argv[at:]), refused, as_json)
                )
    return cases


def _argv(
    command: str, parser: argparse.ArgumentParser, wrong: argparse.Action, words: list[str]
) -> tuple[str, ...]:
    """The command, the wrong argument, then valid values of the others that it needs."""
    before: list[str] = [*command.split(), *(words if wrong.option_strings else [])]
    needed: list[str] = []
    positionals: list[str] = []
    for action in _arguments(parser):
        if action is wrong:
            if not action.option_strings and action.nargs != argparse.REMAINDER:
                positionals += words
            continue
        if action.nargs == argparse.REMAINDER:
            continue  # from BASE, last
        if not action.option_strings:
            positionals += _valid(command, action)
        elif action.required:
            needed += _valid(command, action)
    base = BASE.get(command, [])
    tail = base[base.index("--") :] if "--" in base else []
    base = base[: len(base) - len(tail)]
    if wrong.dest == "cmd":
        tail = ["--", *words]
    given = {w for w in words if w.startswith("-")}
    base = [w for w in base if w not in given]  # the wrong one replaces a base one
    return (*before, *positionals, *needed, *base, *tail)


CASES = _cases()


def test_every_option_has_a_wrong_value() -> None:
    # _cases() raised LookupError at import if one had none; this names the count.
    commands = {c.command for c in CASES}
    assert {"eval", "session delete", "certs make-test", "profile add", "demo"} <= commands
    assert len(CASES) > 150


@pytest.fixture(scope="module")
def token(qlik_emulator: EmulatorInfo) -> str:
    """A valid JWT of the emulator's JWT virtual proxy, for verify and inspect."""
    from qlikauth import JwtSigner

    key = qlik_emulator.virtual_proxy("jwt")["jwt_private_key"]
    now = int(time.time())
    claims = {"userId": "everyoption", "userDirectory": "QLIKEMU", "iat": now, "exp": now + 3600}
    return JwtSigner(Path(key)).sign(claims)


@pytest.fixture
def site(
    qlik_emulator: EmulatorInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
) -> dict[str, str]:
    """A profile 'emu' (header auth on the emulator) and the placeholders' values."""
    ports = qlik_emulator["ports"]
    config = tmp_path / "config.toml"
    config.write_text(
        f'default_profile = "emu"\n[profiles.emu]\nserver = "localhost"\nprefix = "hdr"\n'
        f'cookie_name = "{qlik_emulator.cookie_name("hdr")}"\n'
        f'certs = "{qlik_emulator.certs_dir}"\nproxy_port = {ports["proxy"]}\n'
        f'qps_port = {ports["qps"]}\ntimeout = 10\nauthenticator = "header"\n'
        f'[profiles.emu.auth]\nuser = "everyoption"\nheader_name = "header_user"\n',
        encoding="utf-8",
    )
    for name in ("QLIKAUTH_PROFILE", "QLIKAUTH_NO_SUCH_VARIABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QLIKAUTH_CONFIG", str(config))
    monkeypatch.setenv("QLIKAUTH_SESSION_STORE", "file")
    monkeypatch.setenv("QLIKAUTH_EVERY_TOKEN", token)
    monkeypatch.chdir(tmp_path)
    jwt = qlik_emulator.virtual_proxy("jwt")
    return {
        "tmp": str(tmp_path),
        "certs": str(qlik_emulator.certs_dir),
        "jwt_key": str(jwt["jwt_private_key"]),
        "jwt_cert": str(jwt["jwt_certificate"]),
        "info_file": str(qlik_emulator["info_file"]),
    }


_ERRORS = {
    name: kind
    for name, kind in vars(qlikauth.errors).items()
    if isinstance(kind, type) and issubclass(kind, qlikauth.errors.QlikAuthError)
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_wrong_value_is_a_clean_error(
    case: Case, site: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    if (case.command, case.dest) in PENDING:
        pytest.xfail(PENDING[(case.command, case.dest)])
    argv = [word.format(**site) if "{" in word else word for word in case.argv]
    config = Path(site["tmp"], "config.toml")
    before = config.read_bytes()
    code = main(argv)  # an exception escaping here is the traceback a user would see
    captured = capsys.readouterr()
    assert config.read_bytes() == before, f"{argv} changed the configuration file"
    assert "Traceback" not in captured.out + captured.err
    said = (captured.out + captured.err)[:400]
    assert code != 0, f"{argv} succeeded:\n{said}"
    expected = EXIT_CODES.get((case.command, case.dest))
    if case.parser_refuses:
        assert code == 2, (argv, said)
    elif expected is not None:
        assert code == expected, (argv, said)
    else:
        assert code in (1, 2, 3, 4), (argv, said)
    if case.json:
        document = json.loads(captured.out or "null")
        if case.command in REPORTS and not case.parser_refuses:
            _assert_a_failed_report(document)
            return
        assert isinstance(document, dict), (argv, said)
        assert document["ok"] is False
        assert isinstance(document["message"], str) and document["message"]
        assert "hint" in document
        kind = _ERRORS.get(document["error"])
        assert kind is not None, document
        assert code == (expected or exit_code_for(kind)), (argv, document)
    elif case.command in REPORTS and not case.parser_refuses:
        report = captured.out.lower()
        assert "error" in report or "problem" in report or "error: " in captured.err, (argv, said)
    else:
        assert captured.err.startswith(("error: ", "warning: ")), (argv, said)
        assert "error: " in captured.err


def _assert_a_failed_report(document: object) -> None:
    if isinstance(document, list):  # certs check: the findings
        assert any(f["level"] == "error" for f in document), document
    else:
        assert isinstance(document, dict), document
        assert document["ok"] is False, document
