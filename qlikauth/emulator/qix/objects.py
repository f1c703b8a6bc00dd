"""What an engine session holds: its handles, the open doc, and the doc's session objects."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qlikauth.emulator.qix.data import App
from qlikauth.emulator.qix.expressions import ExpressionError, compile_expression
from qlikauth.emulator.qix.hypercube import DefinitionError, HyperCube, field_list
from qlikauth.emulator.qix.values import text_of

__all__ = ["GLOBAL_HANDLE", "DocState", "SessionObject", "SessionState"]

GLOBAL_HANDLE = -1
"""The Global object's handle (qlik-protocol.md §3.4)."""


class SessionObject:
    """A generic object made by ``CreateSessionObject``: its properties and computed layout.

    Definitions anywhere in the properties lay out as the engine does: ``qHyperCubeDef``
    becomes ``qHyperCube``, ``qFieldListDef`` becomes ``qFieldList``, ``qStringExpression``
    and ``qValueExpression`` become their values. Cubes are built once (properties never
    change after creation: the emulator has no ``SetProperties``).
    """

    def __init__(self, app: App, properties: dict[str, Any], handle: int) -> None:
        self.app = app
        self.properties = properties
        self.handle = handle
        info = properties["qInfo"]
        self.object_id: str = info["qId"]
        self.object_type: str = info["qType"]
        self._cubes: dict[str, HyperCube] = {}
        self._lock = threading.Lock()
        self._check(properties, "")

    def _check(self, node: Any, path: str) -> None:
        """Build every cube now, so a malformed definition fails at creation."""
        if isinstance(node, list):
            for index, item in enumerate(node):
                self._check(item, f"{path}/{index}")
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "qHyperCubeDef":
                    if not isinstance(value, dict):
                        raise DefinitionError(f"{path}/{key} must be an object")
                    self.cube(f"{path}/{key}")
                else:
                    self._check(value, f"{path}/{key}")

    def cube(self, path: str) -> HyperCube | None:
        """The hypercube at ``path`` (for example ``/qHyperCubeDef``), or None."""
        with self._lock:
            cube = self._cubes.get(path)
            if cube is not None:
                return cube
            node: Any = self.properties
            for part in path.strip("/").split("/"):
                if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                elif isinstance(node, dict) and part in node:
                    node = node[part]
                else:
                    return None
            if not path.rstrip("/").endswith("qHyperCubeDef") or not isinstance(node, dict):
                return None
            cube = HyperCube(self.app, node)
            self._cubes[path] = cube
            return cube

    def info(self) -> dict[str, Any]:
        """``qInfo``."""
        return {"qId": self.object_id, "qType": self.object_type}

    def interface(self) -> dict[str, Any]:
        """The ``ObjectInterface`` that names this object's handle."""
        return {
            "qType": "GenericObject",
            "qHandle": self.handle,
            "qGenericType": self.object_type,
            "qGenericId": self.object_id,
        }

    def layout(self) -> dict[str, Any]:
        """``qLayout``: the properties with every definition computed."""
        layout = self._lay_out(self.properties, "")
        assert isinstance(layout, dict)
        layout["qInfo"] = self.info()
        layout.setdefault("qSelectionInfo", {})
        return layout

    def _lay_out(self, node: Any, path: str) -> Any:
        if isinstance(node, list):
            return [self._lay_out(item, f"{path}/{i}") for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return copy.deepcopy(node)
        if set(node) == {"qStringExpression"} or set(node) == {"qValueExpression"}:
            return self._expression_value(node)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "qHyperCubeDef":
                cube = self.cube(f"{path}/{key}")
                assert cube is not None
                out["qHyperCube"] = cube.layout()
            elif key == "qFieldListDef" and isinstance(value, Mapping):
                out["qFieldList"] = field_list(self.app, value)
            else:
                out[key] = self._lay_out(value, f"{path}/{key}")
        return out

    def _expression_value(self, node: Mapping[str, Any]) -> Any:
        key, spec = next(iter(node.items()))
        text = spec.get("qExpr", "") if isinstance(spec, Mapping) else spec
        if not isinstance(text, str):
            return None
        try:
            value = compile_expression(text, self.app.fields).evaluate(self.app.rows())
        except ExpressionError as exc:
            return f"Error: {exc}" if key == "qStringExpression" else None
        if key == "qStringExpression":
            return text_of(value)
        return value if not isinstance(value, str) else None


@dataclass
class DocState:
    """The app a session has open, and its session objects by id."""

    app: App
    handle: int
    objects: dict[str, SessionObject] = field(default_factory=dict)

    def interface(self) -> dict[str, Any]:
        """The ``ObjectInterface`` of the doc."""
        return {
            "qType": "Doc",
            "qHandle": self.handle,
            "qGenericType": "",
            "qGenericId": self.app.app_id,
        }


class SessionState:
    """One engine session's handle table: Global is -1, then 1, 2, … as objects open."""

    def __init__(self) -> None:
        self.doc: DocState | None = None
        self.handles: dict[int, object] = {}
        self.lock = threading.RLock()
        self._next_handle = 1

    def new_handle(self, target: object) -> int:
        """Give ``target`` the next handle."""
        handle = self._next_handle
        self._next_handle += 1
        self.handles[handle] = target
        return handle

    def target(self, handle: int) -> object | None:
        """What ``handle`` names: this state (Global), a doc, an object, or None."""
        if handle == GLOBAL_HANDLE:
            return self
        return self.handles.get(handle)

    def drop(self, handle: int) -> None:
        """Forget ``handle`` (the object closed)."""
        self.handles.pop(handle, None)


def new_object_id() -> str:
    """A fresh object id, in the engine's style (short and random)."""
    return uuid.uuid4().hex[:8]
