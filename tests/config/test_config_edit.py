"""Saving keeps the user's file: comments, order and layout; only changed tables change."""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from config_support import write

from qlikauth.config import ConfigFile, Profile, profile_toml, toml_assignment
from qlikauth.config import profiles as profiles_module
from qlikauth.config.toml_edit import Changes, same
from qlikauth.errors import ConfigurationError

Edit = Callable[[ConfigFile], ConfigFile]

#: A multi-line string whose lines look like a table header and a comment: not a section.
TRICKY = '''[profiles.a]
server = "a"

[profiles.a.auth]
user = "u"
note = """
[profiles.b]
# looks like a comment"""
[profiles.c]
server = "c"
'''


@pytest.mark.parametrize(
    ("before", "edit", "after"),
    [
        pytest.param(
            '[profiles.p]\nserver = "a"   # keep me\n# the timeout, in seconds\ntimeout = 5\n'
            'prefix = "x"\n',
            lambda c: c.with_profile(
                Profile("p", server="a", timeout=5.0, authenticator="header", auth={"user": "u"})
            ),
            '[profiles.p]\nserver = "a"   # keep me\n# the timeout, in seconds\ntimeout = 5\n'
            'authenticator = "header"\n\n[profiles.p.auth]\nuser = "u"\n',
            id="replaced-in-place",
        ),
        pytest.param(
            TRICKY,
            lambda c: c.without_profile("a"),
            '[profiles.c]\nserver = "c"\n',
            id="multi-line-string-is-not-a-header",
        ),
        pytest.param(
            TRICKY,
            lambda c: c.without_profile("c"),
            TRICKY.removesuffix('[profiles.c]\nserver = "c"\n'),
            id="last-table-removed",
        ),
        pytest.param(
            '[profiles.a]\nserver = "a"',
            lambda c: c.with_profile(Profile("b", server="b")),
            '[profiles.a]\nserver = "a"\n\n[profiles.b]\nserver = "b"\n',
            id="no-final-newline",
        ),
        pytest.param(
            '# note\n[profiles.a]\nserver = "a"\n',
            lambda c: c.with_default("a"),
            'default_profile = "a"\n\n# note\n[profiles.a]\nserver = "a"\n',
            id="first-default",
        ),
        pytest.param(
            '[profiles.a]\nserver = "a"\n[profiles.b]\nserver = "b"\n[profiles.a.auth]\n'
            'user = "u"\n',
            lambda c: c.without_profile("a"),
            '[profiles.b]\nserver = "b"\n',
            id="tables-out-of-order",
        ),
        pytest.param(
            '# mine\nprofiles.a.server = "x"\n',
            lambda c: c.with_profile(Profile("a", server="y")).with_profile(
                Profile("b", server="b")
            ),
            '# mine\nprofiles.a.server = "y"\n\n[profiles.b]\nserver = "b"\n',
            id="dotted-keys",
        ),
        pytest.param(
            'profiles = { a = { server = "x" } }  # all in one\n',
            lambda c: c.with_profile(Profile("b", server="b")),
            'profiles = { a = { server = "x" }, b = {server = "b"}}  # all in one\n',
            id="inline-table",
        ),
        pytest.param(
            'default_profile="a"\n[ profiles.a ]\nserver="a"   \n',
            lambda c: c.with_profile(Profile("a", server="a")),
            'default_profile="a"\n[ profiles.a ]\nserver="a"   \n',
            id="unchanged",
        ),
    ],
)
def test_only_what_changes_changes(tmp_path: Path, before: str, edit: Edit, after: str) -> None:
    path = write(tmp_path / "c.toml", before)
    config = ConfigFile.load(path)
    edited = edit(config)
    edited.save()
    assert path.read_text(encoding="utf-8") == after
    again = ConfigFile.load(path)
    assert dict(again.profiles) == dict(edited.profiles)
    assert again.default_profile == edited.default_profile
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_new_file_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "new" / "c.toml"
    config = ConfigFile.load(path).with_profile(
        Profile("prod", server="q", auth={"validator": {"kind": "ldap", "bind_password": "env:X"}}),
        make_default=True,
    )
    config.save()
    assert path.read_text(encoding="utf-8") == (
        "# qlikauth profiles. Secrets are references: keyring:NAME or env:VAR.\n"
        'default_profile = "prod"\n\n'
        '[profiles.prod]\nserver = "q"\n\n'
        '[profiles.prod.auth]\nvalidator = {kind = "ldap", bind_password = "env:X"}\n'
    )


def test_nothing_is_written_unless_it_reads_back_as_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = '[profiles.a]\nserver = "a"  # mine\n'
    path = write(tmp_path / "c.toml", before)

    def wrong(text: str, changes: Changes) -> Iterator[str]:
        yield text  # as if the edit had been lost
        yield "not toml ["

    monkeypatch.setattr(profiles_module, "edited", wrong)
    config = ConfigFile.load(path).with_profile(Profile("b", server="b"))
    with pytest.raises(ConfigurationError, match="cannot change the file") as info:
        config.save()
    assert "by hand" in (info.value.hint or "")
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (5, 5.0, True),
        (1, True, False),
        ("1", 1, False),
        ({"a": [1, 2]}, {"a": [1, 2.0]}, True),
        ({"a": [1]}, {"a": [1, 2]}, False),
        ({"a": 1}, {"b": 1}, False),
    ],
)
def test_same_values(a: Any, b: Any, expected: bool) -> None:
    assert same(a, b) is expected
    assert same(b, a) is expected


def test_changes_between_name_only_what_differs() -> None:
    changes = Changes.between(
        {"a": {"server": "a"}, "b": {"server": "b"}, "c": {"timeout": 5}},
        {"a": {"server": "a"}, "c": {"timeout": 5.0}, "d": {"server": "d"}},
        "a",
        "a",
    )
    assert dict(changes.profiles) == {"b": None, "d": {"server": "d"}}
    assert not changes.default_changed


def test_profile_toml_is_the_profile_as_saved() -> None:
    lines = profile_toml("emu", {"server": "localhost", "auth": {"user": "CORP\\bob"}})
    assert lines == [
        "[profiles.emu]",
        'server = "localhost"',
        "",
        "[profiles.emu.auth]",
        'user = "CORP\\\\bob"',
    ]


def test_toml_assignment_is_valid_toml() -> None:
    values = {
        "password": "env:EMU_PW",
        "user": "CORP\\bob",
        "quote": 'say "hi"\n',
        "port": 4243,
        "verify": False,
        "groups": ["Sales", "EU"],
        "claims": {"a": 1},
        "bad key": "x",
    }
    text = "\n".join(toml_assignment(k, v) for k, v in values.items())
    assert 'password = "env:EMU_PW"' in text
    assert tomllib.loads(text) == values
