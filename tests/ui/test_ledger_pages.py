"""Finance pages: a passport's ledger (figures, charts, entries, booking, reversing) and the finance portfolio,
with who sees what, refusals that book nothing, and amounts formatted for the reader's language."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from django.urls import reverse

from governance.audit.models import AuditEvent
from governance.ledger.models import LedgerEntry
from tests.governance import ledger_helpers
from tests.governance.ledger_helpers import book, book_payback_example

pytestmark = pytest.mark.django_db
org = ledger_helpers.org  # the shared fixture

HOSTILE = '<script>alert(1)</script><img src="http://example.com/x.png">'


def ledger_url(passport) -> str:
    return reverse("governance:passport_ledger", args=[passport.key])


def chart(html: str, dom_id: str) -> dict:
    return json.loads(re.search(rf'<script id="{dom_id}" type="application/json">(.*?)</script>', html, re.S).group(1))


def test_who_sees_a_ledger(client, org):
    for user in (org.finance_a, org.finance_b, org.owner, org.auditor, org.risk):  # role or business owner
        client.force_login(user)
        assert client.get(ledger_url(org.pa)).status_code == 200, user
    for user in (org.developer, org.outsider):  # no amounts for anyone else: the ledger is a 404
        client.force_login(user)
        assert client.get(ledger_url(org.pa)).status_code == 404, user
        assert 'id="passport-ledger-link"' not in client.get(
            reverse("registry:passport_detail", args=[org.pa.key])).content.decode()


def test_figures_and_charts_of_the_payback_example(client, org):
    book_payback_example(org.finance_a, org.pa, first_year=2022)
    client.force_login(org.auditor)
    html = client.get(ledger_url(org.pa)).content.decode()
    kpis = html[html.index('id="ledger-kpis"'):html.index('id="ledger-entries"')]
    assert 'id="kpi-net">' in kpis and "60,000.00" in kpis  # 3 x 100,000 - 150,000 - 3 x 30,000
    assert "2 y 2 m" in kpis and "2.14 years" in kpis  # payback at 2 + 10,000/70,000 years, months rounded up
    cumulative = chart(html, "chart-cumulative")["data"][0]
    assert cumulative["y"][0] == -150000.0 and cumulative["y"][-1] == 60000.0
    waterfall = chart(html, "chart-waterfall")["data"][0]
    assert waterfall["measure"][-1] == "total" and sum(waterfall["y"]) == 60000.0
    assert html.count('id="entry-') == 7


def test_finance_user_books_through_the_form_and_the_audit_chain_records_it(client, org):
    client.force_login(org.finance_a)
    page = client.get(ledger_url(org.pa)).content.decode()
    assert 'id="ledger-book-form"' in page
    response = client.post(reverse("governance:ledger_book", args=[org.pa.key]), {
        "book-category": "cost_saving", "book-amount": "1234.50", "book-currency": "EUR", "book-period": "2024-03",
        "book-description": f"Saving {HOSTILE}", "book-evidence_url": "https://example.com/evidence",
    })
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert entry.amount == entry.amount_base and str(entry.amount) == "1234.500" and entry.period == date(2024, 3, 1)
    assert AuditEvent.objects.filter(action="ledger.entry_booked").count() == 1
    html = client.get(ledger_url(org.pa)).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_bad_input_is_shown_and_books_nothing(client, org):
    client.force_login(org.finance_a)
    url = reverse("governance:ledger_book", args=[org.pa.key])
    base = {"book-category": "cost_saving", "book-amount": "10", "book-currency": "EUR", "book-period": "2024-03",
            "book-description": "Saving"}
    for bad, text in ((("book-amount", "-5"), "greater than or equal"),
                      (("book-currency", "USD"), "rate"),  # another currency needs its rate to base
                      (("book-period", "2099-01"), "future")):
        response = client.post(url, {**base, bad[0]: bad[1]})
        assert response.status_code == 400 and text in response.content.decode(), bad
    assert not LedgerEntry.objects.exists()


def test_only_granted_finance_users_see_and_use_the_booking_form(client, org):
    client.force_login(org.finance_b)  # finance, but granted unit B only
    assert 'id="ledger-book-form"' not in client.get(ledger_url(org.pa)).content.decode()
    response = client.post(reverse("governance:ledger_book", args=[org.pa.key]), {
        "book-category": "cost_saving", "book-amount": "10", "book-currency": "EUR", "book-period": "2024-03",
        "book-description": "Not mine"})
    assert response.status_code == 400 and "unit-a" in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_reversal_keeps_both_entries_and_nets_to_zero(client, org):
    entry = book(org.finance_a, org.pa, "cost_saving", 500)
    client.force_login(org.finance_a)
    url = reverse("governance:ledger_reverse", args=[org.pa.key, entry.pk])
    assert client.post(url, {"reverse-reason": ""}).status_code == 400
    assert client.post(url, {"reverse-reason": "Booked twice."}).status_code == 302
    assert LedgerEntry.objects.count() == 2
    html = client.get(ledger_url(org.pa)).content.decode()
    assert f"reversed by #{entry.pk + 1}" in html and f"reverses #{entry.pk}" in html
    assert 'id="kpi-net">0.00<' in html
    assert client.post(url, {"reverse-reason": "Again."}).status_code == 400  # an entry is reversed once


def test_portfolio_lists_filters_sorts_and_exports(client, org):
    book(org.finance_a, org.pa, "cost_saving", 1000)
    book(org.finance_b, org.pb, "development", 400)
    client.force_login(org.auditor)
    url = reverse("governance:finance_portfolio")
    html = client.get(url).content.decode()
    rows = re.findall(r'<tr data-passport="([^"]+)"', html)
    assert rows == ["credit-score", "fraud-score"]  # net P&L, largest first
    assert 'id="kpi-net">600.00<' in html
    assert chart(html, "chart-portfolio-cumulative")["data"]
    html = client.get(url, {"business_unit": "unit-b"}).content.decode()
    assert re.findall(r'<tr data-passport="([^"]+)"', html) == ["fraud-score"]
    html = client.get(url, {"sort": "key", "descending": "on"}).content.decode()
    assert re.findall(r'<tr data-passport="([^"]+)"', html) == ["fraud-score", "credit-score"]
    export = re.search(r'href="([^"]+)" id="portfolio-export-csv"', html).group(1).replace("&amp;", "&")
    response = client.get(export)
    assert response.status_code == 200 and b"fraud-score" in b"".join(response.streaming_content
                                                                     if response.streaming else [response.content])


def test_portfolio_leaves_out_ledgers_the_user_may_not_read(client, org):
    book(org.finance_a, org.pa, "cost_saving", 1000)
    client.force_login(org.owner)  # business owner of both: sees both
    assert len(re.findall(r'<tr data-passport=', client.get(reverse("governance:finance_portfolio")).content
                          .decode())) == 2
    client.force_login(org.developer)  # no ledger rights at all
    html = client.get(reverse("governance:finance_portfolio")).content.decode()
    assert "<tr data-passport=" not in html and "1,000" not in html


def test_russian_formats_amounts_the_russian_way(client, org):
    book(org.finance_a, org.pa, "cost_saving", "1234567.5")
    client.cookies["django_language"] = "ru"
    client.force_login(org.auditor)
    html = client.get(ledger_url(org.pa)).content.decode()
    assert "1\xa0234\xa0567,50" in html or "1 234 567,50" in html
    assert "Книга учёта ROI / P&" in html and "Окупаемость" in html


AB = {"ab-experiment": "Checkout v2", "ab-category": "revenue_uplift", "ab-uplift": "0.50", "ab-ci_low": "0.20",
      "ab-ci_high": "0.80", "ab-confidence": "0.95", "ab-volume": "10000", "ab-value_per_unit": "1",
      "ab-currency": "EUR", "ab-period_from": "2024-01", "ab-period_to": "2024-03"}


def test_ab_form_shows_the_calculation_then_books_it(client, org):
    client.force_login(org.finance_a)
    url = reverse("governance:ledger_ab", args=[org.pa.key])
    html = client.post(url, {**AB, "action": "preview"}).content.decode()
    assert "0.50 x 10000 x 1 = 5000.00 EUR" in html and html.count("<tr><td>2024-0") == 3
    assert not LedgerEntry.objects.exists()  # a preview books nothing
    response = client.post(url, {**AB, "action": "book"})
    assert response.status_code == 302
    amounts = sorted(LedgerEntry.objects.values_list("amount", flat=True))
    assert sum(amounts) == 5000 and len(amounts) == 3 and amounts[-1] - amounts[0] <= 0.01  # no cent lost
    refused = client.post(url, {**AB, "ab-ci_low": "-0.1", "action": "book"})
    assert refused.status_code == 400 and "includes no effect" in refused.content.decode()
    assert LedgerEntry.objects.count() == 3


def _csv(rows: list[str]) -> bytes:
    return ("passport,period,category,amount,currency,description\n" + "\n".join(rows) + "\n").encode()


def test_import_dry_run_lists_every_bad_row_and_books_nothing_then_books_a_clean_file(client, org):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(org.finance_a)
    url = reverse("governance:ledger_import")
    bad = _csv(["credit-score,2024-01,cost_saving,100,EUR,ok", "credit-score,2024-01,cost_saving,-5,EUR,neg",
                "nope,2024-01,cost_saving,1,EUR,x", f"fraud-score,2024-01,cost_saving,1,EUR,{HOSTILE}"])
    response = client.post(url, {"file": SimpleUploadedFile("e.csv", bad, content_type="text/csv")})
    html = response.content.decode()
    assert response.status_code == 400 and "nothing is booked" in html
    lines = re.findall(r'<tr><td class="font-monospace">(\d+)</td>', html)
    assert lines == ["3", "4", "5"]  # every bad row, by its line in the file (unit B is not fin-a's)
    assert not LedgerEntry.objects.exists() and "<script>alert(1)" not in html
    good = _csv(["credit-score,2024-01,cost_saving,100,EUR,one", "credit-score,2024-02,development,40,EUR,two"])
    html = client.post(url, {"file": SimpleUploadedFile("e.csv", good, content_type="text/csv")}).content.decode()
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', html).group(1)
    assert not LedgerEntry.objects.exists()
    assert client.post(url, {"sha256": sha}).status_code == 302
    assert LedgerEntry.objects.count() == 2 and set(LedgerEntry.objects.values_list("source", flat=True)) == {"import"}
    assert client.post(url, {"sha256": sha}).status_code == 302 and LedgerEntry.objects.count() == 2  # once only


def test_import_page_is_for_finance_users(client, org):
    client.force_login(org.auditor)
    assert client.get(reverse("governance:ledger_import")).status_code == 403


def test_business_case_form_sets_the_plan_and_refuses_bad_lines(client, org):
    book_payback_example(org.finance_a, org.pa, first_year=2022)
    client.force_login(org.finance_a)
    url = reverse("governance:business_case", args=[org.pa.key])
    case = {"case-currency": "EUR", "case-discount_rate": "0.08", "case-horizon_years": "3", "case-first_year": "2022",
            "case-lines": "0, development, 150000\n1, cost_saving, 100000\n1, infrastructure, 30000\n"
                          "2, cost_saving, 100000\n2, infrastructure, 30000"}
    bad = client.post(url, {**case, "case-lines": "1, cost_saving\n"})
    assert bad.status_code == 400 and "Line 1: expected year, category, amount." in bad.content.decode()
    wrong = client.post(url, {**case, "case-lines": "9, cost_saving, 10"})
    assert wrong.status_code == 400 and "Plan years run from 0" in wrong.content.decode()
    assert client.post(url, case).status_code == 302
    html = client.get(ledger_url(org.pa)).content.decode()
    assert "Plan vs actual by year" in html and "discount rate 0.08" in html
    client.force_login(org.auditor)  # reads the case, may not change it
    assert client.get(url).status_code == 200 and client.post(url, case).status_code == 403
