"""Ledger imports and exports: CSV import with a dry run that books nothing until every row is good, and CSV /
Excel exports of entries and of the portfolio.

Text cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are prefixed with a single
quote in every export (CSV and XLSX), so no spreadsheet runs them as formulas (CSV injection). Numbers are
written as numbers (a negative amount is not text and is left alone).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import DomainError
from core.spreadsheet import csv_lines, neutralise
from governance.ledger import services as ledger_services
from governance.ledger.choices import LedgerCategory, LedgerSource
from registry.models import ModelPassport, ModelVersion

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
IMPORT_COLUMNS = ("passport", "version", "period", "booking_date", "category", "amount", "currency",
                  "fx_rate_to_base", "description", "evidence_text", "evidence_url", "predictions")
REQUIRED_COLUMNS = ("passport", "period", "category", "amount", "currency", "description")
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --------------------------------------------------------------------------- import


@dataclass
class RowError:
    row: int  # the line number in the file (the header is line 1)
    field: str | None
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class ImportResult:
    """What an import checked (``rows``), every problem (``errors``: book nothing while any), and what it booked."""

    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    drafts: list = field(default_factory=list)
    booked: list = field(default_factory=list)
    sha256: str = ""
    dry_run: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors

    def totals(self) -> dict:
        """Sum of amount_base per base currency over the checked rows (the preview's control total)."""
        out: dict[str, Decimal] = {}
        for draft in self.drafts:
            entry = draft.entry
            out[entry.base_currency] = out.get(entry.base_currency, Decimal(0)) + entry.amount_base
        return out


def import_entries(*, actor: Actor, upload, dry_run: bool = True) -> ImportResult:
    """Parse and check every row of a CSV of entries; unless ``dry_run`` and only when every row is good, book
    them all in one transaction (``source`` = import, one audit event each, carrying the file's sha256).

    A file that cannot be read at all (too large, not UTF-8, no header, missing columns, too many rows) is a
    DomainError; bad rows are reported in the result, each with its line number, field and reason.
    """
    data = _read(upload)
    result = ImportResult(sha256=hashlib.sha256(data).hexdigest(), dry_run=dry_run)
    reader = _reader(data)
    passports, versions = _lookups(reader)
    for line, raw in reader:
        result.rows += 1
        _check_row(actor, line, raw, passports, versions, result)
    if result.rows == 0:
        raise DomainError(_("The file has a header but no rows."), code="empty", field="file")
    if result.ok and not dry_run:
        result.booked = ledger_services.ledger_entries_book_all(actor=actor, drafts=result.drafts,
                                                                import_sha256=result.sha256)
    return result


def _read(upload) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_IMPORT_BYTES:
        raise DomainError(_("The file is larger than %(mib)s MiB.") % {"mib": MAX_IMPORT_BYTES // (1024 * 1024)},
                          code="too_large", field="file")
    data = upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise DomainError(_("The file is larger than %(mib)s MiB.") % {"mib": MAX_IMPORT_BYTES // (1024 * 1024)},
                          code="too_large", field="file")
    return data


def _reader(data: bytes) -> list[tuple[int, dict]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError(_("The file is not UTF-8 text."), code="invalid_csv", field="file")
    rows = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in rows.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DomainError(_("Missing columns: %(missing)s. Expected: %(expected)s.")
                          % {"missing": ", ".join(missing), "expected": ", ".join(IMPORT_COLUMNS)},
                          code="invalid_csv", field="file")
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if unknown:
        raise DomainError(_("Unknown columns: %(columns)s.") % {"columns": ", ".join(unknown)}, code="invalid_csv",
                          field="file")
    rows.fieldnames = header
    out = []
    try:
        for raw in rows:
            if len(out) >= MAX_IMPORT_ROWS:
                raise DomainError(_("The file has more than %(rows)s rows.") % {"rows": MAX_IMPORT_ROWS},
                                  code="too_large", field="file")
            if any((value or "").strip() for value in raw.values() if isinstance(value, str)):
                out.append((rows.line_num, raw))
    except csv.Error as exc:
        raise DomainError(_("The CSV cannot be read: %(error)s.") % {"error": exc}, code="invalid_csv", field="file")
    return out


def _lookups(rows: list[tuple[int, dict]]) -> tuple[dict, dict]:
    """The passports and versions the rows name, fetched in two queries (the permission is checked per row)."""
    keys = {(raw.get("passport") or "").strip() for _line, raw in rows}
    passports = {p.key: p for p in ModelPassport.objects.filter(key__in=keys).select_related("business_unit")}
    versions = {(v.passport_id, v.number): v for v in ModelVersion.objects.filter(passport__in=passports.values())}
    return passports, versions


def _check_row(actor: Actor, line: int, raw: dict, passports: dict, versions: dict, result: ImportResult) -> None:
    errors: list[RowError] = []
    value = _Parser(line, raw, errors)
    passport = passports.get(value.text("passport"))
    if passport is None:
        errors.append(RowError(line, "passport", _("No passport '%(key)s'.") % {"key": value.text("passport")}))
    kwargs = {
        "period": value.month("period"), "booking_date": value.day("booking_date"),
        "category": value.choice("category", LedgerCategory.values), "amount": value.decimal("amount"),
        "currency": value.text("currency").upper(), "fx_rate_to_base": value.decimal("fx_rate_to_base"),
        "description": value.text("description"), "evidence_text": value.text("evidence_text"),
        "evidence_url": value.text("evidence_url"), "predictions": value.integer("predictions"),
    }
    number = value.integer("version")
    version = None
    if passport is not None and number is not None:
        version = versions.get((passport.pk, number))
        if version is None:
            errors.append(RowError(line, "version", _("Passport '%(key)s' has no version %(n)s.")
                                   % {"key": passport.key, "n": number}))
    if errors or passport is None:
        result.errors.extend(errors)
        return
    try:
        result.drafts.append(ledger_services.draft_entry(actor=actor, passport=passport, version=version,
                                                         source=LedgerSource.IMPORT, **kwargs))
    except DomainError as exc:
        result.errors.append(RowError(line, exc.field, exc.message))


class _Parser:
    """Typed reads of one row's text cells; a bad cell adds a RowError and reads as None."""

    def __init__(self, line: int, raw: dict, errors: list[RowError]):
        self.line, self.raw, self.errors = line, raw, errors

    def text(self, name: str) -> str:
        value = self.raw.get(name)
        return value.strip() if isinstance(value, str) else ""

    def _fail(self, name: str, message: str):
        self.errors.append(RowError(self.line, name, message))

    def decimal(self, name: str) -> Decimal | None:
        text = self.text(name)
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return self._fail(name, _("'%(value)s' is not a number (use a dot for decimals, no thousands "
                                      "separators).") % {"value": text})
        if not number.is_finite():
            return self._fail(name, _("'%(value)s' is not a number.") % {"value": text})
        return number

    def integer(self, name: str) -> int | None:
        text = self.text(name)
        if not text:
            return None
        if not text.isdigit() or len(text) > 18:
            return self._fail(name, _("'%(value)s' is not a whole number.") % {"value": text})
        return int(text)

    def day(self, name: str) -> date | None:
        text = self.text(name)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            return self._fail(name, _("'%(value)s' is not a date (YYYY-MM-DD).") % {"value": text})

    def month(self, name: str) -> date | None:
        text = self.text(name)
        try:
            year, month = text[:7].split("-")
            if len(text) not in (7, 10) or len(year) != 4:
                raise ValueError
            value = date(int(year), int(month), 1)
            if len(text) == 10 and date.fromisoformat(text) != value:
                raise ValueError
            return value
        except ValueError:
            return self._fail(name, _("'%(value)s' is not a month (YYYY-MM).") % {"value": text})

    def choice(self, name: str, allowed: Sequence[str]) -> str | None:
        text = self.text(name).lower()
        if text not in allowed:
            return self._fail(name, _("'%(value)s' is not one of %(allowed)s.")
                              % {"value": text, "allowed": ", ".join(allowed)})
        return text


# --------------------------------------------------------------------------- export

ENTRY_HEADER = ("id", "passport", "version", "business_unit", "period", "booking_date", "category", "source",
                "amount", "currency", "fx_rate_to_base", "amount_base", "base_currency", "predictions",
                "description", "evidence_text", "evidence_url", "evidence_sha256", "reversal_of", "reversed_by",
                "booked_by", "booked_at")
PORTFOLIO_HEADER = ("passport", "name", "business_unit", "risk_tier", "benefits", "costs", "net", "roi",
                    "payback_years", "plan_variance")


def entry_rows(entries: Iterable) -> Iterable[tuple]:
    for e in entries:
        reversed_by = getattr(e, "reversed_by", None)
        yield (e.pk, e.passport.key, e.version.number if e.version_id else None, e.business_unit.code,
               e.period.isoformat()[:7], e.booking_date, e.category, e.source, e.amount, e.currency,
               e.fx_rate_to_base, e.amount_base, e.base_currency, e.predictions, e.description, e.evidence_text,
               e.evidence_url, e.evidence_sha256, e.reversal_of_id, reversed_by.pk if reversed_by else None,
               e.booked_by_name, e.booked_at)


def portfolio_rows(passports: Iterable) -> Iterable[tuple]:
    """Rows of ``ledger_selectors.portfolio_page`` (ROI to 4 places, payback to 2)."""
    for p in passports:
        yield (p.key, p.name, p.business_unit.code, p.risk_tier, p.benefits, p.costs, p.net,
               p.roi, None if p.payback_years is None else round(p.payback_years, 2), p.plan_variance)


def to_csv(header: Sequence[str], rows: Iterable[tuple]) -> bytes:
    """UTF-8 CSV (with a BOM, so spreadsheets read it as UTF-8), every text cell neutralised."""
    return b"".join(csv_lines(header, rows))


def to_xlsx(header: Sequence[str], rows: Iterable[tuple], *, title: str) -> bytes:
    """An Excel workbook of one sheet: numbers as numbers, dates as dates, every text cell neutralised and
    stored as a string (never as a formula)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(header))
    for row in rows:
        sheet.append([_xlsx_cell(cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(cell):
    if cell is None or isinstance(cell, Decimal | int | float):
        return cell
    if isinstance(cell, datetime):
        return cell.astimezone(UTC).replace(tzinfo=None) if cell.tzinfo else cell  # Excel has no zones: UTC
    if isinstance(cell, date):
        return cell
    # XML cannot hold most control characters (an ANSI escape in a description would make openpyxl refuse the
    # whole workbook, and the ledger is append-only): each becomes U+FFFD, visibly replaced.
    return neutralise(XML_ILLEGAL.sub("\ufffd", str(cell)))
