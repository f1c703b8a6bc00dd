"""Dynamic header patterns as the QMC stores them, e.g. ``$ud\\\\$id`` or ``$id@$ud``.

``$ud`` stands for the user directory and ``$id`` for the user id; every other character is
literal. The QMC stores a backslash doubled (``$ud\\\\$id``, qlik-protocol.md §10), so a
header matching ``$ud\\\\$id`` reads ``CORP\\alice``: one backslash. A single backslash is
not a pattern the QMC stores, and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["HeaderPattern"]

_UD, _ID = "$ud", "$id"


def _tokens(stored: str) -> list[str]:
    """The pattern as literal strings and the two placeholders, in order."""
    tokens: list[str] = []
    literal = ""
    i = 0
    while i < len(stored):
        if stored.startswith("\\\\", i):
            literal += "\\"
            i += 2
        elif stored[i] == "\\":
            raise ValueError(
                f"header pattern {stored!r}: a backslash must be doubled, as the QMC stores "
                "it ('$ud\\\\$id' for a header such as CORP\\alice)"
            )
        elif stored.startswith((_UD, _ID), i):
            if literal:
                tokens.append(literal)
                literal = ""
            tokens.append(stored[i : i + 3])
            i += 3
        else:
            literal += stored[i]
            i += 1
    if literal:
        tokens.append(literal)
    return tokens


@dataclass(frozen=True)
class HeaderPattern:
    """A checked pattern: ``$ud`` and ``$id`` once each, with literal text between them."""

    stored: str

    def __post_init__(self) -> None:
        tokens = _tokens(self.stored)
        if tokens.count(_UD) != 1 or tokens.count(_ID) != 1:
            raise ValueError(
                f"header pattern {self.stored!r} must hold $ud and $id exactly once each"
            )
        first = min(tokens.index(_UD), tokens.index(_ID))
        if tokens[first + 1] in (_UD, _ID):
            raise ValueError(
                f"header pattern {self.stored!r}: $ud and $id need literal text between them"
            )

    def example(self, directory: str = "DIRECTORY", user_id: str = "user") -> str:
        """The header value this pattern expects for one user (one backslash, not two)."""
        names = {_UD: directory, _ID: user_id}
        return "".join(names.get(token, token) for token in _tokens(self.stored))

    def _regex(self, lazy: bool) -> re.Pattern[str]:
        group = "(.+?)" if lazy else "(.+)"
        parts = []
        for token in _tokens(self.stored):
            if token == _UD:
                parts.append(group.replace("(", "(?P<ud>", 1))
            elif token == _ID:
                parts.append(group.replace("(", "(?P<id>", 1))
            else:
                parts.append(re.escape(token))
        return re.compile("".join(parts), re.DOTALL)

    def parse(self, value: str) -> tuple[str, str] | str:
        """(directory, user id) from a header value, or why the value does not fit."""
        found = [self._regex(lazy).fullmatch(value) for lazy in (True, False)]
        if found[0] is None or found[1] is None:
            example = self.example()
            return f"the value does not match the pattern {self.stored} (for example {example})"
        directory, user_id = found[0].group("ud"), found[0].group("id")
        if (directory, user_id) != (found[1].group("ud"), found[1].group("id")):
            return f"the value matches the pattern {self.stored} in more than one way"
        directory, user_id = directory.strip(), user_id.strip()
        if not directory or not user_id:
            return f"the directory and the user id in the pattern {self.stored} may not be blank"
        if "\\" in directory or "\\" in user_id:
            # QPS refuses backslashes in UserDirectory and UserId (qlik-protocol.md §1.4).
            return "the directory and the user id may not contain a backslash"
        return directory, user_id
