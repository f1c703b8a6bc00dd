"""ExportData's files: CSV written row by row, and the record the proxy serves them from."""

from __future__ import annotations

import contextlib
import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qlikauth.emulator.qix.hypercube import HyperCube
    from qlikauth.emulator.qix.session import EngineUser

__all__ = [
    "CSV_CELL_LIMIT",
    "CSV_COLUMN_LIMIT",
    "TRUNCATED_WARNING",
    "Export",
    "file_type_delimiter",
    "write_csv",
]

CSV_COLUMN_LIMIT = 1000
"""Most columns a CSV export may have (qlik-protocol.md §3.5); more is error 13000."""

CSV_CELL_LIMIT = 5_000_000
"""Most cells a CSV export holds (qlik-protocol.md §3.5); beyond, rows are cut, warning 1000."""

TRUNCATED_WARNING = 1000
"""The ``qWarnings`` entry for an export cut at the cell limit."""

_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class Export:
    """A file ExportData wrote, and who may fetch it through which virtual proxy."""

    path: Path
    owner: EngineUser
    channel: str
    serve_once: bool


# ExportFileType in enigma.js's schema: names, EXPORT_ names and numbers.
_FILE_TYPES = {
    "CSV_C": ",",
    "EXPORT_CSV_C": ",",
    "0": ",",
    "CSV_T": "\t",
    "EXPORT_CSV_T": "\t",
    "1": "\t",
}
_UNSUPPORTED_TYPES = {"OOXML", "EXPORT_OOXML", "2", "PARQUET", "EXPORT_PARQUET", "3"}


def file_type_delimiter(file_type: str | int | float) -> str | None:
    """The CSV delimiter for a ``qFileType``; None for a known type the emulator cannot write.

    Raises ``ValueError`` for a value that is no ``ExportFileType`` at all.
    """
    key = str(int(file_type)) if isinstance(file_type, int | float) else file_type.upper()
    if key in _FILE_TYPES:
        return _FILE_TYPES[key]
    if key in _UNSUPPORTED_TYPES:
        return None
    raise ValueError(f"unknown file type {file_type!r}")


def write_csv(
    cube: HyperCube, path: Path, delimiter: str, *, cell_limit: int | None = CSV_CELL_LIMIT
) -> tuple[int, bool]:
    """Write ``cube`` to ``path`` one row at a time; return (data rows, whether truncated).

    The header row holds the dimension and measure labels. Text is UTF-8 and fields are
    quoted only when needed (INFERRED: the protocol sheet does not describe the bytes).
    """
    width = max(cube.width, 1)
    total = cube.height
    limit = total if cell_limit is None else min(total, cell_limit // width)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    try:
        with open(fd, "w", encoding="utf-8", newline="", buffering=_WRITE_BUFFER) as stream:
            writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n")
            writer.writerow(cube.header())
            for row in cube.text_rows(limit):
                writer.writerow(row)
                written += 1
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return written, limit < total
