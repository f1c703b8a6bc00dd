"""Cell values as the engine sees them: numbers, text and null, and their Qlik text form."""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "NULL_TEXT",
    "Value",
    "as_number",
    "format_number",
    "is_number",
    "json_number",
    "text_of",
]

Value = int | float | str | None
"""One cell: a number, a text or null (``None``)."""

NULL_TEXT = "-"
"""How the engine shows null (its default null symbol)."""

# Qlik shows at most 14 significant digits when an expression has no number format.
_SIGNIFICANT_DIGITS = 14
_MAX_PLAIN_INTEGER = 1e15


def is_number(value: Value) -> bool:
    """Whether ``value`` is numeric (``bool`` is not a cell type, so it never counts)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_number(value: Value) -> float | None:
    """The numeric reading of ``value``: numbers as they are, numeric text parsed, else None."""
    if is_number(value):
        number = float(value)  # type: ignore[arg-type]
        return None if math.isnan(number) else number
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return None if math.isnan(number) or math.isinf(number) else number
    return None


def format_number(number: float) -> str:
    """Format like the engine's automatic format: integers bare, others to 14 digits."""
    if math.isnan(number):
        return NULL_TEXT
    if number.is_integer() and abs(number) < _MAX_PLAIN_INTEGER:
        return str(int(number))
    text = f"{number:.{_SIGNIFICANT_DIGITS}g}"
    return "0" if text in ("-0", "0") else text


def text_of(value: Value) -> str:
    """The text the engine shows for ``value``."""
    kind = type(value)
    # Exact type checks first: this runs for every cell of an export.
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if value is None:
        return NULL_TEXT
    if isinstance(value, str):
        return value
    return format_number(float(value))


def json_number(value: Value) -> Any:
    """``qNum`` for a cell: the number, or ``"NaN"`` for text and null (as Qlik sends)."""
    number = float(value) if is_number(value) else math.nan  # type: ignore[arg-type]
    if math.isnan(number) or math.isinf(number):
        return "NaN"
    return int(number) if number.is_integer() and abs(number) < _MAX_PLAIN_INTEGER else number
