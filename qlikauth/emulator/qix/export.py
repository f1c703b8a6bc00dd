"""ExportData's files: CSV written row by row, and the record the proxy serves them from."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from qlikauth.emulator.qix.values import is_number

if TYPE_CHECKING:
    from qlikauth.emulator.qix.hypercube import HyperCube
    from qlikauth.emulator.qix.user import EngineUser
    from qlikauth.emulator.qix.values import Value

__all__ = [
    "CSV_CELL_LIMIT",
    "CSV_COLUMN_LIMIT",
    "OOXML",
    "OOXML_COLUMN_LIMIT",
    "OOXML_ROW_LIMIT",
    "TRUNCATED_WARNING",
    "Export",
    "file_type_delimiter",
    "write_csv",
    "write_xlsx",
]

CSV_COLUMN_LIMIT = 1000
"""Most columns a CSV export may have (qlik-protocol.md §3.5); more is error 13000."""

CSV_CELL_LIMIT = 5_000_000
"""Most cells a CSV export holds (qlik-protocol.md §3.5); beyond, rows are cut, warning 1000."""

OOXML_ROW_LIMIT = 1_048_566
"""Most rows an OOXML export holds (qlik-protocol.md §3.5); beyond, rows are cut."""

OOXML_COLUMN_LIMIT = 16_384
"""Most columns an OOXML export may have (qlik-protocol.md §3.5)."""

OOXML = "OOXML"
"""What :func:`file_type_delimiter` answers for the Excel file type."""

TRUNCATED_WARNING = 1000
"""The ``qWarnings`` entry for an export cut at the cell limit."""

_WRITE_BUFFER = 1 << 18


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
    "OOXML": OOXML,
    "EXPORT_OOXML": OOXML,
    "2": OOXML,
}
_UNSUPPORTED_TYPES = {"PARQUET", "EXPORT_PARQUET", "3"}


def file_type_delimiter(file_type: str | int | float) -> str | None:
    """The CSV delimiter for a ``qFileType``, :data:`OOXML` for Excel, None for Parquet.

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


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)
_SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    "<sheetData>"
)
_SHEET_END = "</sheetData></worksheet>"
# Characters XML 1.0 cannot carry at all.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CHUNK = 1 << 16


def _column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def _xlsx_row(number: int, columns: list[str], values: list[Value]) -> str:
    cells = []
    for column, value in zip(columns, values, strict=True):
        if value is None:
            continue
        ref = f"{column}{number}"
        if is_number(value):
            as_float = float(value)
            text = str(int(as_float)) if as_float.is_integer() else repr(as_float)
            cells.append(f'<c r="{ref}"><v>{text}</v></c>')
        else:
            text = escape(_XML_ILLEGAL.sub("", str(value)))
            cells.append(
                f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
            )
    return f'<row r="{number}">{"".join(cells)}</row>'


def write_xlsx(
    cube: HyperCube, path: Path, *, row_limit: int = OOXML_ROW_LIMIT
) -> tuple[int, bool]:
    """Write ``cube`` as a one-sheet Excel workbook, streamed; return (data rows, truncated).

    Numbers are number cells and texts inline strings, under a header row of labels; null
    cells are left empty. The sheet is compressed as it is written, so memory stays flat.
    """
    total = cube.height
    limit = min(total, row_limit)
    columns = [_column_name(i) for i in range(cube.width)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    try:
        with (
            open(fd, "wb") as raw,
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
            archive.writestr("_rels/.rels", _PACKAGE_RELS)
            archive.writestr("xl/workbook.xml", _WORKBOOK)
            archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
            with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
                pending = [_SHEET_START, _xlsx_row(1, columns, list(cube.header()))]
                size = 0
                for values in cube.value_rows(limit):
                    written += 1
                    line = _xlsx_row(written + 1, columns, values)
                    pending.append(line)
                    size += len(line)
                    if size >= _CHUNK:
                        sheet.write("".join(pending).encode("utf-8"))
                        pending, size = [], 0
                pending.append(_SHEET_END)
                sheet.write("".join(pending).encode("utf-8"))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return written, limit < total
