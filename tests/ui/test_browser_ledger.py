"""A finance user books an entry on a passport's ledger in a real browser and sees the figures and charts move;
the finance portfolio draws its charts. Debian's Chromium, headless."""

from __future__ import annotations

from datetime import date

import pytest
from guardian.shortcuts import assign_perm

from governance.ledger.models import LedgerEntry
from tests.factories import BusinessUnitFactory, TeamFactory, UserFactory, make_passport
from tests.governance.ledger_helpers import MANAGE, book_payback_example
from tests.ui.test_browser_signoff import CHROMIUM, SCREENSHOTS, browser, open_as  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_finance_user_books_an_entry_and_sees_the_charts(live_server, browser):  # noqa: F811
    developer = UserFactory(username="dev", roles=["model_developer"])
    finance = UserFactory(username="fin", roles=["finance"])
    unit = BusinessUnitFactory(code="retail", name="Retail lending")
    assign_perm(MANAGE, finance, unit)
    passport = make_passport(actor=developer, key="ledger-credit", team=TeamFactory(name="T", members=[developer]),
                             business_unit=unit)
    book_payback_example(finance, passport, first_year=date.today().year - 3)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = open_as(browser, live_server, "fin", f"/passports/{passport.key}/ledger/")
    page.locator("#chart-cumulative + .chart .main-svg, [data-chart=chart-cumulative] .main-svg").first.wait_for()
    page.locator("[data-chart=chart-waterfall] .main-svg").first.wait_for()
    assert page.locator("#kpi-net").inner_text().strip() == "60,000.00"
    page.select_option("#id_book-category", "cost_saving")
    page.fill("#id_book-amount", "2500")
    page.fill("#id_book-period", date.today().strftime("%Y-%m"))
    page.fill("#id_book-description", "Collections saving, this month")
    page.click("#ledger-book-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/passports/{passport.key}/ledger/")
    assert page.locator("#kpi-net").inner_text().strip() == "62,500.00"
    assert LedgerEntry.objects.filter(description="Collections saving, this month").exists()
    page.screenshot(path=str(SCREENSHOTS / "finance-ledger.png"), full_page=True)
    assert page.console_errors == []

    page.goto(f"{live_server.url}/finance/")
    page.locator("[data-chart=chart-portfolio-cumulative] .main-svg").first.wait_for()
    assert page.locator("#portfolio-table tr[data-passport=ledger-credit]").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "finance-portfolio.png"), full_page=True)
    assert page.console_errors == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_finance_user_reverses_an_entry_and_reads_the_ledger_in_russian(live_server, browser):  # noqa: F811
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.governance.ledger_helpers import book

    developer = UserFactory(username="dev", roles=["model_developer"])
    finance = UserFactory(username="fin", roles=["finance"])
    unit = BusinessUnitFactory(code="retail", name="Retail lending")
    assign_perm(MANAGE, finance, unit)
    passport = make_passport(actor=developer, key="ledger-credit", team=TeamFactory(name="T", members=[developer]),
                             business_unit=unit)
    book_payback_example(finance, passport, first_year=date.today().year - 3)
    wrong = book(finance, passport, "cost_saving", 2500, period=date(date.today().year, 1, 1),
                 description="Saving booked twice", evidence_text="Invoice 42",
                 evidence_file=SimpleUploadedFile("invoice.pdf", b"%PDF-1.4 invoice"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = open_as(browser, live_server, "fin", f"/passports/{passport.key}/ledger/")
    assert page.locator("#kpi-net").inner_text().strip() == "62,500.00"
    row = page.locator(f"#entry-{wrong.pk}")
    assert row.locator("a.ledger-evidence-file").count() == 1
    form_row = page.locator(f"#reverse-{wrong.pk}")
    assert form_row.is_hidden()
    row.locator("a.reverse-open").click()
    assert form_row.is_visible() and row.locator("a.reverse-open").get_attribute("aria-expanded") == "true"
    # the form spans the table: its reason box is at least half the table's width (not squeezed into a cell)
    box = form_row.locator("input[name=reverse-reason]").bounding_box()
    table = page.locator("#entries-table").bounding_box()
    assert box["width"] >= table["width"] / 2, (box, table)
    page.screenshot(path=str(SCREENSHOTS / "finance-ledger-reversal-form.png"), full_page=True)
    form_row.locator("input[name=reverse-reason]").fill("Booked twice.")
    form_row.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/passports/{passport.key}/ledger/")
    assert page.locator("#kpi-net").inner_text().strip() == "60,000.00"
    reversal = LedgerEntry.objects.get(reversal_of=wrong)
    assert page.locator(f"#entry-{wrong.pk}").get_attribute("class") == "entry-reversed"
    page.locator(f"#entry-{wrong.pk} a.entry-pair-link").click()
    assert page.url.endswith(f"#entry-{reversal.pk}")
    assert "entry-reversal" in page.locator(f"#entry-{reversal.pk}").get_attribute("class")
    page.screenshot(path=str(SCREENSHOTS / "finance-ledger-reversal.png"), full_page=True)

    page.context.add_cookies([{"name": "django_language", "value": "ru", "url": live_server.url}])
    page.goto(f"{live_server.url}/passports/{passport.key}/ledger/")
    page.locator("[data-chart=chart-waterfall] .main-svg").first.wait_for()
    assert page.locator("#kpi-net").inner_text().strip().replace("\xa0", " ") == "60 000,00"
    page.screenshot(path=str(SCREENSHOTS / "finance-ledger-ru.png"), full_page=True)
    ticks = page.evaluate("[...document.querySelectorAll('[data-chart=chart-cumulative] .xtick text')]"
                          ".map(t => t.textContent).join(' ')")
    assert any(month in ticks for month in ("янв", "апр", "июл", "окт")), ticks  # Plotly's months in Russian
    page.goto(f"{live_server.url}/finance/")
    page.locator("[data-chart=chart-portfolio-cumulative] .main-svg").first.wait_for()
    # by month, not one point a year: the portfolio line has a step for every month with entries
    points = page.evaluate("JSON.parse(document.getElementById('chart-portfolio-cumulative').textContent)"
                           ".data[0].x.length")
    assert points == LedgerEntry.objects.filter(passport=passport).values("period").distinct().count() > 4
    page.screenshot(path=str(SCREENSHOTS / "finance-portfolio-ru.png"), full_page=True)
    assert page.console_errors == []

    from decimal import Decimal

    from governance.ledger import services as ledger_services

    this_year = date.today().year  # a plan reaching next year: that row has no actuals yet, and says so
    ledger_services.business_case_set(
        actor=finance, passport=passport, currency="EUR", discount_rate=Decimal("0.08"), horizon_years=3,
        first_year=this_year - 1, lines=[ledger_services.PlanInput(0, "development", Decimal("150000")),
                                         *[ledger_services.PlanInput(y, "cost_saving", Decimal("100000"))
                                           for y in (1, 2, 3)]])
    page.goto(f"{live_server.url}/passports/{passport.key}/ledger/")
    future = page.locator("#plan-vs-actual tr[data-future]")
    assert future.count() == 1 and "ещё не начался" in future.inner_text() and "—" in future.inner_text()
    assert "до конца" in page.locator("#plan-vs-actual").inner_text()  # the current year: to date
    page.locator("#plan-vs-actual").screenshot(path=str(SCREENSHOTS / "finance-plan-vs-actual-ru.png"))
