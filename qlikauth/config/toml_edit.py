"""Edits of the configuration file's text that keep the user's comments, order and layout.

A save changes only what changed: the tables of a profile added, replaced or removed, and the
``default_profile`` line. Everything else stays byte for byte. The text is read as a preamble
(the top-level keys) and sections, one per table header; a comment block directly above a
header (no blank line between) belongs to that header's section, so it goes with its profile
and stays with it. A replaced profile is edited in place with tomlkit: keys whose value is
unchanged keep their comments. A new profile is appended at the end.

:func:`edited` offers the edited text in order of preference; the caller keeps the first
that reads back as intended (a layout this section-wise edit cannot handle, such as a profile
given as dotted keys, falls back to tomlkit's edit of the whole document).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AbstractTable, InlineTable, Item

__all__ = [
    "NEW_FILE",
    "Changes",
    "edited",
    "profile_toml",
    "same",
    "toml_assignment",
    "with_tables",
]

#: How a new configuration file begins.
NEW_FILE = "# qlikauth profiles. Secrets are references: keyring:NAME or env:VAR.\n\n"

Table = Mapping[str, Any]


def same(a: Any, b: Any) -> bool:
    """Whether two TOML values are the same: ``5`` is ``5.0``, but ``1`` is not ``true``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Changes:
    """What a save changes: profiles to write (their tables) or remove (``None``), and
    the default profile when it changes."""

    profiles: Mapping[str, Table | None]
    default_profile: str | None = None
    default_changed: bool = False

    @classmethod
    def between(
        cls,
        before: Mapping[str, Table],
        after: Mapping[str, Table],
        default_before: str | None,
        default_after: str | None,
    ) -> Changes:
        """The changes that turn the profiles ``before`` into ``after``."""
        profiles: dict[str, Table | None] = {name: None for name in before if name not in after}
        for name, table in after.items():
            if name not in before or not same(before[name], table):
                profiles[name] = table
        return cls(profiles, default_after, default_before != default_after)


def edited(text: str, changes: Changes) -> Iterator[str]:
    """``text`` with ``changes`` made: the section-wise edit first, then tomlkit's edit of
    the whole document. Edits that fail are skipped; the caller checks what they read as."""
    for edit in (_edit_sections, _edit_document):
        try:
            yield edit(text, changes)
        except (TOMLKitError, KeyError, TypeError, ValueError):
            continue


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class _Section:
    """The text of one table header: its comment block, the header line, its body."""

    text: str
    profile: str | None


def _split(text: str) -> tuple[str, list[_Section]]:
    """The preamble and the sections of a valid TOML text."""
    lines = text.splitlines(keepends=True)

    def complete(count: int) -> bool:
        """Whether the first ``count`` lines end outside any string or array."""
        try:
            tomllib.loads("".join(lines[:count]))
        except tomllib.TOMLDecodeError:
            return False
        return True

    # The grammar, not a pattern, says what is a header: a line opening with "[" is one only
    # where the text before it is complete TOML (not inside a multi-line string or array).
    # Quadratic in the worst case; configuration files are a few dozen lines.
    headers = [i for i, line in enumerate(lines) if line.lstrip().startswith("[") and complete(i)]
    starts = []
    for header in headers:
        start = header
        while start > 0 and lines[start - 1].lstrip().startswith("#") and complete(start - 1):
            start -= 1
        starts.append(start)
    sections = [
        _Section("".join(lines[start:end]), _owner(lines[header]))
        for start, end, header in zip(starts, [*starts[1:], len(lines)], headers, strict=True)
    ]
    return "".join(lines[: starts[0] if starts else len(lines)]), sections


def _owner(header: str) -> str | None:
    """The profile whose table the header line ``[profiles.NAME...]`` opens, if any."""
    data: Any = tomllib.loads(header)
    path: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        key = next(iter(data))
        path.append(key)
        data = data[key]
    return path[1] if len(path) >= 2 and path[0] == "profiles" else None


def _edit_sections(text: str, changes: Changes) -> str:
    preamble, sections = _split(text)
    for name, table in changes.profiles.items():
        own = [s for s in sections if s.profile == name]
        rest = [s for s in sections if s.profile != name]
        if table is None:
            if own and rest and own[-1] is sections[-1]:
                rest[-1] = _Section(_trimmed(rest[-1].text), rest[-1].profile)
            sections = rest
        elif own:
            region = tomlkit.parse("".join(s.text for s in own))
            _update(region["profiles"][name], table, tables=True)
            rest.insert(sections.index(own[0]), _Section(tomlkit.dumps(region), name))
            sections = rest
        else:
            tail = sections[-1].text if sections else preamble
            sections.append(_Section(_separator(tail) + _render(name, table), name))
    if changes.default_changed:
        preamble = _with_default(preamble, changes.default_profile, followed=bool(sections))
    return preamble + "".join(s.text for s in sections)


def _trimmed(text: str) -> str:
    """``text`` ending in one newline: the blank lines that led to a removed last table go."""
    return text.rstrip("\n") + "\n" if text.strip() else text


def _separator(tail: str) -> str:
    """What goes between ``tail`` and a table appended after it: a blank line."""
    if not tail:
        return ""
    if not tail.endswith("\n"):
        return "\n\n"
    return "" if tail.endswith("\n\n") else "\n"


def _with_default(preamble: str, default: str | None, *, followed: bool) -> str:
    """The preamble with ``default_profile`` set (or removed when ``default`` is None)."""
    document = tomlkit.parse(preamble)
    if default is None:
        if "default_profile" in document:
            del document["default_profile"]
    else:
        document["default_profile"] = default
    text = tomlkit.dumps(document)
    if followed and text and not preamble.strip():
        text += "\n"  # a new first line: a blank line before the first table
    return text


# --------------------------------------------------------------------------- the document


def _edit_document(text: str, changes: Changes) -> str:
    document = tomlkit.parse(text)
    for name, table in changes.profiles.items():
        profiles: Any = document.get("profiles")
        if table is None:
            if profiles is not None and name in profiles:
                del profiles[name]
        elif profiles is not None and name in profiles:
            _update(profiles[name], table, tables=True)
        else:
            if profiles is None:
                document["profiles"] = tomlkit.table(is_super_table=True)
                profiles = document["profiles"]
            profiles[name] = _new_table(
                table, inline=isinstance(profiles, InlineTable), tables=True
            )
    if changes.default_changed:
        if changes.default_profile is None:
            if "default_profile" in document:
                del document["default_profile"]
        else:
            document["default_profile"] = changes.default_profile
    return tomlkit.dumps(document)


# --------------------------------------------------------------------------- values


def _update(container: Any, wanted: Table, *, tables: bool) -> None:
    """Make ``container`` hold ``wanted``, touching only keys whose value changes (their
    comments and places stay). ``tables``: new tables below become ``[...]`` tables."""
    for key in [k for k in container if k not in wanted]:
        del container[key]
    for key, value in wanted.items():
        current = container.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            _update(current, value, tables=False)
        elif current is None or not same(_plain(current), value):
            as_table = (
                tables and isinstance(value, Mapping) and not isinstance(container, InlineTable)
            )
            container[key] = _new_table(value, inline=False) if as_table else _value(value)


def _plain(value: Any) -> Any:
    return value.unwrap() if isinstance(value, Item) else value


def _value(value: Any) -> Item:
    """A TOML value; a table inside a value is written inline."""
    if isinstance(value, Mapping):
        return _new_table(value, inline=True)
    made: Item = tomlkit.item(value)
    return made


def _new_table(table: Table, *, inline: bool, tables: bool = False) -> AbstractTable:
    """A new table holding ``table``; ``tables``: its tables (a profile's ``auth``) become
    ``[...]`` tables of their own, else they are written inline."""
    made: AbstractTable = tomlkit.inline_table() if inline else tomlkit.table()
    for key, value in table.items():
        if tables and not inline and isinstance(value, Mapping):
            made[key] = _new_table(value, inline=False)
        else:
            made[key] = _value(value)
    return made


def _render(name: str, table: Table) -> str:
    """The TOML text of ``[profiles.NAME]`` (and its ``.auth`` table)."""
    document = tomlkit.document()
    profiles = tomlkit.table(is_super_table=True)
    profiles[name] = _new_table(table, inline=False, tables=True)
    document["profiles"] = profiles
    return tomlkit.dumps(document)


def profile_toml(name: str, table: Table) -> list[str]:
    """The lines of ``[profiles.NAME]`` (and its ``.auth`` table) for a profile's table."""
    return _render(name, table).splitlines()


def toml_assignment(key: str, value: Any) -> str:
    """``key = value`` as a line of TOML (strings quoted and escaped)."""
    document = tomlkit.document()
    document.add(key, _value(value))
    return tomlkit.dumps(document).rstrip("\n")


def with_tables(text: str, tables: Mapping[str, Table | None]) -> str:
    """``text`` with top-level tables set (or removed, ``None``) through tomlkit, which keeps
    the rest of the document as it is."""
    document = tomlkit.parse(text)
    for name, table in tables.items():
        if table is None:
            document.pop(name, None)
        else:
            document[name] = table
    return tomlkit.dumps(document)
