"""JSON-RPC plumbing: Qlik's error shape and codes, and binding params to schema names.

Parameter names, order, defaults and optionality follow enigma.js's schema (``In`` lists,
qlik-protocol.md §3.5 and §3.7): positional arrays map to those names in order, missing
optional parameters take their defaults, and unknown names or wrong types give -32602.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "APP_ALREADY_OPEN",
    "APP_INVALID",
    "APP_NOT_FOUND",
    "CSV_TOO_LARGE",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "NOT_FOUND",
    "NOT_IMPLEMENTED",
    "PARSE_ERROR",
    "Param",
    "RpcError",
    "bind_params",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = 2
NOT_IMPLEMENTED = 20
APP_ALREADY_OPEN = 1002
APP_NOT_FOUND = 1003
APP_INVALID = 1007
CSV_TOO_LARGE = 13000

# Messages are the descriptions in qlik-protocol.md §3.6 (the literal strings are INFERRED).
_MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid Params",
    INTERNAL_ERROR: "Internal error",
    NOT_FOUND: "Not found",
    NOT_IMPLEMENTED: "Not implemented",
    APP_ALREADY_OPEN: "App already open",
    APP_NOT_FOUND: "App not found",
    APP_INVALID: "App invalid",
    CSV_TOO_LARGE: "Export exceeds the CSV limits",
}


class RpcError(Exception):
    """An engine error answer: ``{"code", "parameter", "message"}``."""

    def __init__(self, code: int, parameter: str = "", message: str | None = None) -> None:
        self.code = code
        self.parameter = parameter
        self.message = message if message is not None else _MESSAGES.get(code, "Error")
        super().__init__(f"{code} {self.message}: {parameter}")

    def to_json(self) -> dict[str, Any]:
        """The ``error`` member of the response."""
        return {"code": self.code, "parameter": self.parameter, "message": self.message}


@dataclass(frozen=True)
class Param:
    """One ``In`` entry of the schema: name, default (whose type is the expected type)."""

    name: str
    default: Any
    optional: bool = False
    kind: str = ""

    @property
    def expected(self) -> str:
        """The JSON type this parameter takes."""
        if self.kind:
            return self.kind
        if isinstance(self.default, bool):
            return "boolean"
        if isinstance(self.default, int | float):
            return "number"
        if isinstance(self.default, str):
            return "string"
        if isinstance(self.default, list):
            return "array"
        return "object"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _accepts(param: Param, value: Any) -> bool:
    actual = _json_type(value)
    if param.expected == "enum":
        return actual in ("string", "number")
    return actual == param.expected


def bind_params(params: Any, schema: Sequence[Param]) -> dict[str, Any]:
    """Map ``params`` (object by name, array by position, or absent) to the schema's names."""
    if params is None:
        given: dict[str, Any] = {}
    elif isinstance(params, list):
        if len(params) > len(schema):
            raise RpcError(
                INVALID_PARAMS,
                f"too many parameters: {len(params)} given, the method takes {len(schema)}",
            )
        given = {param.name: value for param, value in zip(schema, params, strict=False)}
    elif isinstance(params, Mapping):
        names = {param.name for param in schema}
        for name in params:
            if name not in names:
                raise RpcError(INVALID_PARAMS, f"{name}: unknown parameter")
        given = dict(params)
    else:
        raise RpcError(INVALID_PARAMS, "params must be an array or an object")
    bound: dict[str, Any] = {}
    for param in schema:
        value = given.get(param.name)
        if value is None:
            if not param.optional:
                raise RpcError(INVALID_PARAMS, f"{param.name}: missing")
            bound[param.name] = copy.deepcopy(param.default)
            continue
        if not _accepts(param, value):
            raise RpcError(
                INVALID_PARAMS,
                f"{param.name}: expected {param.expected}, got {_json_type(value)}",
            )
        bound[param.name] = value
    return bound
