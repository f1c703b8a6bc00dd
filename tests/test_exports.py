"""The public API is exactly ``qlikauth.__all__``: sorted, complete, importable."""

from __future__ import annotations

import qlikauth


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in qlikauth.__all__ if n != "__version__"]
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    assert len(set(qlikauth.__all__)) == len(qlikauth.__all__)


def test_every_public_name_is_exported_and_documented() -> None:
    public = {n for n in vars(qlikauth) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(qlikauth, n)).__name__ == "module"}
    assert public - modules == set(qlikauth.__all__) - {"__version__"}
    for name in qlikauth.__all__:
        if name != "__version__":
            assert getattr(qlikauth, name).__doc__, name
