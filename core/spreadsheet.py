"""Cells that spreadsheets open safely: every export (ledger, portfolio, audit log) writes text through here.

A text cell that starts like a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading
single quote, so no spreadsheet runs it (CSV injection). CSV is UTF-8 with a byte-order mark, so spreadsheets read
it as UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(value):
    """A text cell that a spreadsheet would run as a formula gets a leading single quote; others pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_cell(cell):
    """Numbers stay numbers, dates ISO, None empty, everything else neutralised text."""
    if cell is None:
        return ""
    if isinstance(cell, Decimal | int | float) and not isinstance(cell, bool):
        return cell
    if isinstance(cell, date):
        return cell.isoformat()
    return neutralise(str(cell))


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[bytes]:
    """The CSV one encoded line at a time (for a streaming response), the BOM before the header."""
    out = io.StringIO()
    writer = csv.writer(out)

    def line(values) -> bytes:
        out.seek(0)
        out.truncate()
        writer.writerow(values)
        return out.getvalue().encode("utf-8")

    yield BOM.encode("utf-8") + line([csv_cell(h) for h in header])
    for row in rows:
        yield line([csv_cell(cell) for cell in row])
