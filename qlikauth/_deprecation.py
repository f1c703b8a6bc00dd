"""Old names kept for one release: each use warns and names what replaces it."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

__all__ = ["deprecated_names"]


def deprecated_names(
    module: str, renamed: Mapping[str, tuple[str, object]]
) -> Callable[[str], object]:
    """A module ``__getattr__`` serving ``renamed`` (old name -> (new name, object)).

    Reading an old name emits a :class:`DeprecationWarning` naming the new one; any other
    unknown name is the usual :class:`AttributeError`.
    """

    def __getattr__(name: str) -> object:
        try:
            new_name, value = renamed[name]
        except KeyError:
            raise AttributeError(f"module {module!r} has no attribute {name!r}") from None
        warnings.warn(
            f"{module}.{name} is deprecated and will be removed in the next release; "
            f"use {new_name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
