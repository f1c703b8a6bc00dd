"""What the engine objects' helpers return: evaluated values, hypercube cells, app entries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias

from qlikauth.engine.messages import JsonObject, JsonValue

__all__ = ["Cell", "DocInfo", "FieldValue", "Row"]


def _number(value: JsonValue) -> float | None:
    """The engine's ``qNum``: a number, or ``"NaN"`` (text) when there is none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _text(value: JsonValue) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class FieldValue:
    """An evaluated expression (``qValue`` of ``EvaluateEx``)."""

    text: str
    is_numeric: bool
    number: float | None

    @property
    def value(self) -> float | str:
        """The number when there is one, else the text."""
        if self.is_numeric and self.number is not None:
            return self.number
        return self.text

    @classmethod
    def from_json(cls, value: JsonValue) -> FieldValue:
        """Read a ``FieldValue`` object."""
        fields = value if isinstance(value, dict) else {}
        number = _number(fields.get("qNumber"))
        return cls(
            text=_text(fields.get("qText")),
            is_numeric=fields.get("qIsNumeric") is True and number is not None,
            number=number,
        )


@dataclass(frozen=True)
class Cell:
    """One hypercube cell (``NxCell``)."""

    text: str
    number: float | None
    state: str = ""
    is_null: bool = False
    elem_number: int | None = None

    @property
    def value(self) -> float | str:
        """The number when there is one, else the text."""
        return self.number if self.number is not None else self.text

    @classmethod
    def from_json(cls, value: JsonValue) -> Cell:
        """Read an ``NxCell``."""
        fields = value if isinstance(value, dict) else {}
        elem = fields.get("qElemNumber")
        return cls(
            text=_text(fields.get("qText")),
            number=_number(fields.get("qNum")),
            state=_text(fields.get("qState")),
            is_null=fields.get("qIsNull") is True,
            elem_number=elem if isinstance(elem, int) and not isinstance(elem, bool) else None,
        )


Row: TypeAlias = list[Cell]


@dataclass(frozen=True)
class DocInfo:
    """One entry of ``GetDocList``; ``raw`` keeps every field the engine sent."""

    doc_id: str
    name: str
    title: str
    last_reload_time: str
    raw: JsonObject

    @classmethod
    def from_json(cls, value: JsonValue) -> DocInfo:
        """Read a ``DocListEntry``."""
        fields = value if isinstance(value, dict) else {}
        return cls(
            doc_id=_text(fields.get("qDocId")),
            name=_text(fields.get("qDocName")),
            title=_text(fields.get("qTitle")) or _text(fields.get("qDocName")),
            last_reload_time=_text(fields.get("qLastReloadTime")),
            raw=fields,
        )
