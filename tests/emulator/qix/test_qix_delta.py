"""The delta protocol's patches: applied by an independent RFC 6902 applier, they rebuild
the new value exactly, and they stay within what enigma.js's patcher can apply."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlikauth.emulator.qix.delta import DeltaCache, json_patch


def _steps(path: str) -> list[str]:
    assert path.startswith("/"), path
    return [] if path == "/" else path[1:].split("/")


def apply_patches(document: Any, patches: list[dict[str, Any]]) -> Any:
    """RFC 6902 ``add``/``replace``/``remove`` (no escapes: the generator never needs them)."""
    document = json.loads(json.dumps(document))
    for patch in patches:
        steps = _steps(patch["path"])
        if not steps:
            assert patch["op"] in ("add", "replace")
            document = patch["value"]
            continue
        parent = document
        for step in steps[:-1]:
            parent = parent[int(step)] if isinstance(parent, list) else parent[step]
        last = steps[-1]
        if isinstance(parent, list):
            index = int(last)
            assert patch["op"] == "replace", "array lengths never change by patch"
            parent[index] = patch["value"]
        elif patch["op"] == "remove":
            del parent[last]
        elif patch["op"] == "add":
            assert last not in parent
            parent[last] = patch["value"]
        else:
            assert patch["op"] == "replace" and last in parent
            parent[last] = patch["value"]
    return document


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["a", "b", "q", "0", "1e3", "x/y", "t~", "", " s", "0x1", "_p"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(json_values, json_values)
def test_patches_rebuild_the_new_value(old: Any, new: Any) -> None:
    assert apply_patches(old, json_patch(old, new)) == new


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_member_paths_need_no_escaping_and_are_not_indexes(old: Any, new: Any) -> None:
    for patch in json_patch(old, new):
        for step in _steps(patch["path"]):
            assert step and "~" not in step and step.strip() == step
            assert step.isdigit() or not step[0].isdigit()


def test_equal_values_give_no_patches() -> None:
    value = {"qLayout": {"qInfo": {"qId": "x"}, "list": [1, 2.0, "3"]}}
    assert json_patch(value, json.loads(json.dumps(value))) == []


def test_json_types_are_told_apart() -> None:
    assert json_patch({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]
    assert json_patch({"a": 1}, {"a": 1.0}) == []
    assert json_patch([1, 2], [1, 2, 3]) == [{"op": "replace", "path": "/", "value": [1, 2, 3]}]


def test_small_changes_give_small_patches() -> None:
    old = {"qText": "a", "qPages": [{"qMatrix": [[{"qNum": 1}], [{"qNum": 2}]]}], "gone": 0}
    new = {"qText": "a", "qPages": [{"qMatrix": [[{"qNum": 1}], [{"qNum": 5}]]}], "new": 1}
    assert json_patch(old, new) == [
        {"op": "remove", "path": "/gone"},
        {"op": "replace", "path": "/qPages/0/qMatrix/1/0/qNum", "value": 5},
        {"op": "add", "path": "/new", "value": 1},
    ]


@pytest.mark.parametrize("name", ["1", "x/y", "~", "", "__proto__", "0x1f", " a", "Infinity"])
def test_awkward_member_names_replace_their_object(name: str) -> None:
    old = {"outer": {name: 1, "k": 1}}
    new = {"outer": {name: 2, "k": 1}}
    assert json_patch(old, new) == [{"op": "replace", "path": "/outer", "value": new["outer"]}]


def test_cache_sends_whole_values_first_then_patches_per_handle_method_and_key() -> None:
    cache = DeltaCache()
    first = cache.patches(3, "GetLayout", {"qLayout": {"n": 1}})
    assert first == {"qLayout": [{"op": "add", "path": "/", "value": {"n": 1}}]}
    assert cache.patches(3, "GetLayout", {"qLayout": {"n": 2}}) == {
        "qLayout": [{"op": "replace", "path": "/n", "value": 2}]
    }
    # Another method, handle or key has its own slot.
    assert cache.patches(3, "GetProperties", {"qLayout": {"n": 2}})["qLayout"][0]["op"] == "add"
    assert cache.patches(4, "GetLayout", {"qLayout": {"n": 2}})["qLayout"][0]["op"] == "add"
    cache.forget([3])
    assert cache.patches(3, "GetLayout", {"qLayout": {"n": 2}})["qLayout"][0]["path"] == "/"
    assert cache.patches(4, "GetLayout", {"qLayout": {"n": 2}}) == {"qLayout": []}


def test_cache_keeps_its_own_copy() -> None:
    cache = DeltaCache()
    value = {"list": [1]}
    cache.patches(-1, "M", {"r": value})
    value["list"].append(2)  # the caller changes its object afterwards
    assert cache.patches(-1, "M", {"r": {"list": [1]}}) == {"r": []}
