"""The engine's delta protocol: results as JSON-Patch lists against what the socket has.

A request with ``"delta": true`` is answered with a JSON-Patch list (RFC 6902) per result key
and a top-level ``"delta": true`` (qlik-protocol.md §10). The patches turn what *this socket*
was last sent for the same handle, method and key into the new value, because that is what
a client keeps: enigma.js caches one value per session, handle and ``method-key``, drops a
handle's values when a response lists it in ``close``, and applies patches only when the
response carries ``delta: true``. A socket that was never sent the value gets it whole
(``add`` at ``/``).

The patches stay within what enigma.js's patcher applies correctly: object members by
name, array elements by index when the length is unchanged, whole values (``replace``)
otherwise. A member whose name a JSON Pointer would have to escape, or that looks like an
array index, is never addressed on its own: its object is replaced instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DeltaCache", "json_patch"]

Patch = dict[str, Any]
_UNSAFE_NAMES = frozenset({"__proto__", "constructor", "prototype"})
# Names JavaScript reads as a number ("0x1f", "0b1", "0o7"): enigma.js would index with them.
_JS_RADIX_NUMBER = re.compile(r"[+-]?0[xXbBoO][0-9a-fA-F]+")


def _same(old: Any, new: Any) -> bool:
    """Equal as JSON values: ``true`` is not ``1``, and ``1`` is ``1.0``."""
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool) and old is new
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    if isinstance(old, int | float) and isinstance(new, int | float):
        return old == new
    return type(old) is type(new) and bool(old == new)


def _addressable(name: str) -> bool:
    """Whether a member can be a path step on its own (no escaping, not index-like)."""
    if not name or name.strip() != name or "/" in name or "~" in name:
        return False
    if name in _UNSAFE_NAMES or _JS_RADIX_NUMBER.fullmatch(name):
        return False
    try:
        float(name)  # also "Infinity", "1e3", " 7": JavaScript's Number() takes them too
    except ValueError:
        return True
    return False


def _diff(old: Any, new: Any, path: str, out: list[Patch]) -> None:
    if _same(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict) and all(map(_addressable, old | new)):
        for name in old:
            if name not in new:
                out.append({"op": "remove", "path": f"{path}/{name}"})
        for name, value in new.items():
            if name in old:
                _diff(old[name], value, f"{path}/{name}", out)
            else:
                out.append({"op": "add", "path": f"{path}/{name}", "value": value})
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            _diff(before, after, f"{path}/{index}", out)
        return
    out.append({"op": "replace", "path": path or "/", "value": new})


def json_patch(old: Any, new: Any) -> list[Patch]:
    """The patches that turn ``old`` into ``new`` (an empty list when they are equal)."""
    out: list[Patch] = []
    _diff(old, new, "", out)
    return out


class DeltaCache:
    """What one socket was sent, per (handle, method, result key), to patch against."""

    def __init__(self) -> None:
        self._sent: dict[tuple[int, str, str], Any] = {}

    def patches(self, handle: int, method: str, result: Mapping[str, Any]) -> dict[str, Any]:
        """The result as patch lists, remembering each value as sent."""
        patched: dict[str, Any] = {}
        for key, value in result.items():
            # A deep copy through JSON: the value as the client decoded it, shared with nobody.
            value = json.loads(json.dumps(value))
            slot = (handle, method, key)
            if slot in self._sent:
                patched[key] = json_patch(self._sent[slot], value)
            else:
                patched[key] = [{"op": "add", "path": "/", "value": value}]
            self._sent[slot] = value
        return patched

    def forget(self, handles: Iterable[int]) -> None:
        """Drop what was sent for closed handles (the client drops its copies too)."""
        gone = set(handles)
        if gone:
            self._sent = {slot: v for slot, v in self._sent.items() if slot[0] not in gone}
