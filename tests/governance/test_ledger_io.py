"""CSV import parsing and the formula neutralisation of CSV and Excel exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from core.errors import DomainError
from governance.audit.models import AuditEvent
from governance.ledger import io as ledger_io
from governance.ledger.models import LedgerEntry
from tests.governance import ledger_helpers

org = ledger_helpers.org
HEADER = "passport,period,category,amount,currency,description\n"


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tcmd", "'\tcmd"),
    ("\rcmd", "'\rcmd"), ("plain", "plain"), ("a=b", "a=b"), ("", ""), (Decimal("-5.00"), Decimal("-5.00")),
    (None, None),
])
def test_neutralise(value, expected):
    assert ledger_io.neutralise(value) == expected


ROW = (1, "=cmd|' /C calc'!A0", Decimal("-12.50"), "\tx", date(2024, 1, 1),
       datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, "@x")


def test_csv_writer_quotes_text_not_numbers_or_dates():
    text = ledger_io.to_csv(("id", "text", "amount", "tab", "day", "at", "none", "at_sign"), [ROW]).decode()
    assert text.startswith("\ufeff")
    row = next(csv.DictReader(io.StringIO(text[1:])))
    assert row == {"id": "1", "text": "'=cmd|' /C calc'!A0", "amount": "-12.50", "tab": "'\tx",
                   "day": "2024-01-01", "at": "2024-01-02T03:04:05+00:00", "none": "",
                   "at_sign": "'@x"}


def test_xlsx_writer_stores_text_as_strings_and_numbers_as_numbers():
    data = ledger_io.to_xlsx(("id", "text", "amount", "tab", "day", "at", "none", "at_sign"), [ROW], title="t")
    cells = list(load_workbook(io.BytesIO(data)).active.iter_rows(min_row=2))[0]
    assert cells[1].value == "'=cmd|' /C calc'!A0" and cells[1].data_type == "s"
    assert cells[2].value == -12.5 and cells[2].data_type == "n"
    assert cells[3].value == "'\tx" and cells[7].value == "'@x"
    assert cells[5].value == datetime(2024, 1, 2, 3, 4, 5)  # UTC, without a zone (Excel has none)
    assert cells[6].value is None


def _file(text: str | bytes):
    return SimpleUploadedFile("e.csv", text if isinstance(text, bytes) else text.encode(), "text/csv")


@pytest.mark.django_db
@pytest.mark.parametrize(("content", "code"), [
    (b"\xff\xfe\x00garbage", "invalid_csv"),
    ("passport,period\n", "invalid_csv"),                                    # missing columns
    (HEADER.strip() + ",colour\n", "invalid_csv"),                           # unknown column
    (HEADER, "empty"),
])
def test_unreadable_files_are_refused_whole(org, content, code):
    with pytest.raises(DomainError) as exc:
        ledger_io.import_entries(actor=org.finance_a, upload=_file(content), dry_run=True)
    assert exc.value.code == code


@pytest.mark.django_db
def test_row_limit(org, monkeypatch):
    monkeypatch.setattr(ledger_io, "MAX_IMPORT_ROWS", 2)
    text = HEADER + "credit-score,2024-01,staff,1,EUR,x\n" * 3
    with pytest.raises(DomainError, match="more than 2 rows"):
        ledger_io.import_entries(actor=org.finance_a, upload=_file(text), dry_run=True)


@pytest.mark.django_db
def test_import_accepts_a_bom_headers_in_any_case_blank_lines_and_versions(org, developer):
    from tests.governance.workflow_helpers import register

    register(org.pa, developer, seed=1)
    text = ("\ufeffPassport,Period,Category,Amount,Currency,Description,Version,Booking_Date\n"
            "credit-score,2024-03-01,Cost_Saving,10.5,eur,first,1,2024-04-02\n\n"
            "credit-score,2024-03,staff,2,EUR,second,,\n")
    result = ledger_io.import_entries(actor=org.finance_a, upload=_file(text), dry_run=False)
    assert result.ok and len(result.booked) == 2
    first = LedgerEntry.objects.get(description="first")
    assert (first.period, first.version.number, first.booking_date, first.amount) == (
        date(2024, 3, 1), 1, date(2024, 4, 2), Decimal("10.5"))
    assert AuditEvent.objects.filter(action="ledger.entry_booked").count() == 2


@pytest.mark.django_db
def test_every_bad_cell_is_reported_with_its_line(org):
    text = HEADER.replace("description", "description,version,booking_date,predictions") + (
        "credit-score,24-01,staff,1,EUR,x,,,\n"
        "credit-score,2024-01,staff,1e3x,EUR,x,abc,2024-02-30,-5\n"
        "credit-score,2024-01,staff,NaN,EUR,x,,,\n")
    result = ledger_io.import_entries(actor=org.finance_a, upload=_file(text), dry_run=False)
    assert [(e.row, e.field) for e in result.errors] == [
        (2, "period"), (3, "booking_date"), (3, "amount"), (3, "predictions"), (3, "version"), (4, "amount")]
    assert not result.booked and not LedgerEntry.objects.exists()
