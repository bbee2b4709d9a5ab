"""Finance REST API: the access matrix of every ledger endpoint (per business unit), booking, reversal and the
refusal of PUT/PATCH/DELETE, business cases, A/B results, figures, the portfolio, imports and exports."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from governance.audit.models import AuditEvent
from governance.ledger.models import LedgerEntry
from governance.ledger.selectors import ledger_totals_mismatches
from tests import api_helpers
from tests.api_helpers import API, Endpoint, assert_error, bearer_client, check_endpoint
from tests.governance import ledger_helpers
from tests.governance.ledger_helpers import book, book_payback_example

pytestmark = pytest.mark.django_db

org = ledger_helpers.org
users = api_helpers.users
D = Decimal


@pytest.fixture
def people(org):
    return {name: getattr(org, name) for name in (
        "finance_a", "finance_b", "finance_none", "granted_only", "risk", "owner", "developer", "admin", "auditor",
        "outsider")}


@pytest.fixture
def w(org):
    entry = book(org.finance_a, org.pa, "cost_saving", 1000)
    return SimpleNamespace(key=org.pa.key, other=org.pb.key, entry=entry.pk)


def entry_body(w):
    return {"category": "licences", "amount": "250.00", "currency": "USD", "fx_rate_to_base": "0.9",
            "period": "2024-02", "description": "Vendor licence"}


def case_body(w):
    return {"currency": "EUR", "discount_rate": "0.1", "horizon_years": 3, "first_year": 2022,
            "lines": [{"year_index": 0, "category": "development", "amount": "150000"},
                      {"year_index": 1, "category": "cost_saving", "amount": "100000"}]}


def ab_body(w):
    return {"experiment": "checkout-v2", "uplift": "0.12", "ci_low": "0.08", "ci_high": "0.16",
            "volume": "1000000", "period_from": "2024-01", "period_to": "2024-03", "currency": "EUR"}


def csv_body(w):
    text = "passport,period,category,amount,currency,description\n" f"{w.key},2024-01,staff,100,EUR,Team\n"
    return {"file": SimpleUploadedFile("entries.csv", text.encode(), "text/csv"), "dry_run": "true"}


HIDDEN = (("developer", 404), ("outsider", 404))  # see the passport (developer) or not: no amounts either way
NOT_FINANCE_OF_A = (("finance_b", 403), ("finance_none", 403), ("granted_only", 403), ("owner", 403),
                    ("auditor", 403), ("risk", 403))

ENDPOINTS = [
    Endpoint("GET", "/passports/{w.key}/ledger/entries/", "owner", 200, HIDDEN, id="list entries"),
    Endpoint("POST", "/passports/{w.key}/ledger/entries/", "finance_a", 201, HIDDEN + NOT_FINANCE_OF_A,
             body=entry_body, id="book"),
    Endpoint("GET", "/passports/{w.key}/ledger/entries/{w.entry}/", "risk", 200, HIDDEN, id="get entry"),
    Endpoint("POST", "/passports/{w.key}/ledger/entries/{w.entry}/reverse/", "finance_a", 201,
             HIDDEN + NOT_FINANCE_OF_A, body=lambda w: {"reason": "Duplicate"}, id="reverse"),
    Endpoint("GET", "/passports/{w.key}/ledger/", "granted_only", 200, HIDDEN, id="figures"),
    Endpoint("PUT", "/passports/{w.key}/business-case/", "finance_a", 200, HIDDEN + NOT_FINANCE_OF_A,
             body=case_body, id="set business case"),
    Endpoint("POST", "/passports/{w.key}/ledger/ab-results/preview/", "owner", 200, HIDDEN, body=ab_body,
             id="ab preview"),
    Endpoint("POST", "/passports/{w.key}/ledger/ab-results/", "finance_a", 201, HIDDEN + NOT_FINANCE_OF_A,
             body=ab_body, id="ab book"),
    Endpoint("GET", "/passports/{w.key}/ledger/export/?file_format=xlsx", "auditor", 200, HIDDEN, id="export"),
    Endpoint("GET", "/ledger/entries/", "auditor", 200, (("developer", 200), ("outsider", 200)), id="all entries"),
    Endpoint("GET", "/ledger/entries/export/", "finance_b", 200, (("developer", 200),), id="export all"),
    Endpoint("POST", "/ledger/import/", "finance_a", 200, (("developer", 200), ("finance_b", 200)),
             body=csv_body, format="multipart", id="import dry run"),
    Endpoint("GET", "/ledger/portfolio/", "auditor", 200, (("developer", 200), ("outsider", 200)), id="portfolio"),
    Endpoint("GET", "/ledger/portfolio/export/?file_format=csv", "risk", 200, (("developer", 200),),
             id="portfolio export"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_access_matrix(endpoint, w, people):
    check_endpoint(endpoint, w, people)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_entries_are_never_updated_or_deleted_through_the_api(w, people, method):
    client = bearer_client(people["admin"])
    response = getattr(client, method)(f"{API}/passports/{w.key}/ledger/entries/{w.entry}/",
                                       {"amount": "1", "description": "edited"}, format="json")
    assert_error(response, 405, "method_not_allowed")
    entry = LedgerEntry.objects.get(pk=w.entry)
    assert entry.amount == D(1000) and entry.description == "cost_saving 1000"


def test_booking_for_another_business_unit_is_refused_and_books_nothing(w, people):
    response = bearer_client(people["finance_a"]).post(f"{API}/passports/{w.other}/ledger/entries/",
                                                       entry_body(w), format="json")
    error = assert_error(response, 403, "permission_denied")
    assert "unit-b" in error["message"]
    assert not LedgerEntry.objects.filter(passport__key=w.other).exists()


def test_book_and_reverse_through_the_api_net_to_zero_and_both_stay(w, people):
    client = bearer_client(people["finance_a"])
    booked = client.post(f"{API}/passports/{w.key}/ledger/entries/", entry_body(w), format="json")
    assert booked.status_code == 201, booked.data
    body = booked.json()
    assert (body["amount"], body["amount_base"], body["currency"], body["period"]) == (
        "-250.000", "-225.00", "USD", "2024-02")
    reversal = client.post(f"{API}/passports/{w.key}/ledger/entries/{body['id']}/reverse/", {"reason": "Typo"},
                           format="json").json()
    assert reversal["reversal_of"] == body["id"] and reversal["amount_base"] == "225.00"
    again = client.post(f"{API}/passports/{w.key}/ledger/entries/{body['id']}/reverse/", {"reason": "x"},
                        format="json")
    assert_error(again, 409, "already_reversed")
    listed = client.get(f"{API}/passports/{w.key}/ledger/entries/?category=licences").json()
    assert listed["count"] == 2
    assert {row["id"]: row["reversed_by"] for row in listed["results"]}[body["id"]] == reversal["id"]
    figures = client.get(f"{API}/passports/{w.key}/ledger/").json()
    assert figures["net"] == "1000.00" and figures["costs"] == "0.00"
    assert ledger_totals_mismatches() == []


def test_bad_input_is_a_400_in_the_one_error_shape(w, people):
    client = bearer_client(people["finance_a"])
    url = f"{API}/passports/{w.key}/ledger/entries/"
    for patch, field in (({"amount": "12.5", "currency": "JPY"}, "amount"), ({"period": "2024-13"}, "period"),
                         ({"amount": "-5"}, "amount"), ({"currency": "ZZZ"}, "currency"),
                         ({"fx_rate_to_base": None}, "fx_rate_to_base"), ({"version": 99}, "version")):
        error = assert_error(client.post(url, {**entry_body(w), **patch}, format="json"), 400)
        assert error["field"] == field, (patch, error)
    assert LedgerEntry.objects.count() == 1


def test_evidence_file_is_stored_under_its_digest(w, people):
    import hashlib

    data = b"invoice 42"
    body = {**entry_body(w), "evidence_file": SimpleUploadedFile("invoice.pdf", data, "application/pdf")}
    response = bearer_client(people["finance_a"]).post(f"{API}/passports/{w.key}/ledger/entries/", body,
                                                       format="multipart")
    assert response.status_code == 201, response.data
    digest = hashlib.sha256(data).hexdigest()
    assert response.json()["evidence_sha256"] == digest
    assert response.json()["evidence_file"] == f"ledger/{w.key}/{digest}.pdf"
    event = AuditEvent.objects.filter(action="ledger.entry_booked").latest("seq")
    assert event.digests == {"evidence_sha256": digest}


def test_token_scopes_guard_the_finance_api(w, people):
    registry_only = bearer_client(people["auditor"], ["registry:read"])
    assert_error(registry_only.get(f"{API}/ledger/portfolio/"), 403)
    read_only = bearer_client(people["finance_a"], ["finance:read"])
    assert read_only.get(f"{API}/passports/{w.key}/ledger/").status_code == 200
    assert_error(read_only.post(f"{API}/passports/{w.key}/ledger/entries/", entry_body(w), format="json"), 403)


def test_business_case_round_trip_and_figures(org, w, people):
    client = bearer_client(people["finance_a"])
    assert_error(client.get(f"{API}/passports/{w.key}/business-case/"), 404)
    body = {"currency": "EUR", "discount_rate": "0.10", "horizon_years": 3, "first_year": 2022,
            "lines": [{"year_index": 0, "category": "development", "amount": "150000"}]
            + [{"year_index": y, "category": c, "amount": a} for y in (1, 2, 3)
               for c, a in (("infrastructure", "30000"), ("cost_saving", "100000"))]}
    saved = client.put(f"{API}/passports/{w.key}/business-case/", body, format="json")
    assert saved.status_code == 200, saved.data
    assert client.get(f"{API}/passports/{w.key}/business-case/").json()["lines"][0] == {
        "year_index": 0, "category": "development", "amount": "150000.000", "amount_base": "-150000.00"}
    figures = bearer_client(people["owner"]).get(f"{API}/passports/{w.key}/ledger/").json()
    assert figures["plan"]["npv"] == "24079.64"
    assert figures["plan"]["payback"] == {"years": "2.14", "whole_years": 2, "months": 2}


def test_the_payback_example_through_the_api(org, people):
    book_payback_example(org.finance_a, org.pa, first_year=2022)
    figures = bearer_client(people["auditor"]).get(f"{API}/passports/{org.pa.key}/ledger/").json()
    assert figures["payback"] == {"years": "2.14", "whole_years": 2, "months": 2}
    assert (figures["net"], figures["roi"]) == ("60000.00", "0.2500")
    assert [y["cumulative_actual"] for y in figures["years"]] == ["0.00", "-80000.00", "-10000.00", "60000.00"]


def test_ab_result_booking_through_the_api(w, people):
    response = bearer_client(people["finance_a"]).post(f"{API}/passports/{w.key}/ledger/ab-results/", ab_body(w),
                                                       format="json")
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["calculation"]["benefit"] == "120000.000"
    assert [e["amount"] for e in body["entries"]] == ["40000.000"] * 3
    refused = bearer_client(people["finance_a"]).post(
        f"{API}/passports/{w.key}/ledger/ab-results/", {**ab_body(w), "ci_low": "-0.01"}, format="json")
    assert_error(refused, 400, "not_significant")


# --------------------------------------------------------------------------- portfolio


@pytest.fixture
def portfolio(org):
    book_payback_example(org.finance_a, org.pa, first_year=2022)
    book(org.finance_b, org.pb, "revenue_uplift", 500, period=date(2024, 5, 1))
    book(org.finance_b, org.pb, "staff", 1000, period=date(2024, 5, 1))
    return org


def test_portfolio_rows_totals_sorting_and_filters(portfolio, people):
    client = bearer_client(people["auditor"])
    body = client.get(f"{API}/ledger/portfolio/?ordering=-net").json()
    rows = {row["passport"]: row for row in body["results"]}
    assert [row["passport"] for row in body["results"]] == ["credit-score", "fraud-score"]
    pa = rows["credit-score"]
    assert (pa["benefits"], pa["costs"], pa["net"], pa["roi"]) == ("300000.00", "240000.00", "60000.00", "0.2500")
    assert pa["payback"] == {"years": "2.14", "whole_years": 2, "months": 2}
    assert pa["plan_variance"] is None and pa["business_unit"] == "unit-a"
    assert rows["fraud-score"]["net"] == "-500.00" and rows["fraud-score"]["payback"] is None
    assert body["totals"] == {"passports": 2, "benefits": "300500.00", "costs": "241000.00", "net": "59500.00",
                              "roi": "0.2469", "plan_variance": None}
    assert body["base_currency"] == "EUR"
    assert [r["passport"] for r in client.get(f"{API}/ledger/portfolio/?ordering=net").json()["results"]] == [
        "fraud-score", "credit-score"]
    only_b = client.get(f"{API}/ledger/portfolio/?business_unit=unit-b").json()
    assert [r["passport"] for r in only_b["results"]] == ["fraud-score"] and only_b["totals"]["net"] == "-500.00"
    tier = portfolio.pb.risk_tier
    by_tier = client.get(f"{API}/ledger/portfolio/?tier={tier}").json()
    assert "fraud-score" in [r["passport"] for r in by_tier["results"]]
    assert_error(client.get(f"{API}/ledger/portfolio/?ordering=bogus"), 400)


def test_portfolio_shows_only_ledgers_the_user_may_read(portfolio, people):
    def listed(name):
        return [r["passport"] for r in bearer_client(people[name]).get(f"{API}/ledger/portfolio/").json()["results"]]

    assert listed("developer") == [] and listed("outsider") == []
    assert listed("granted_only") == ["credit-score"]
    assert listed("finance_a") == listed("owner") == listed("risk") == ["credit-score", "fraud-score"]


def test_portfolio_plan_variance_against_the_plan_to_date(portfolio, people):
    from governance.ledger import services

    services.business_case_set(actor=portfolio.finance_a, passport=portfolio.pa, currency="EUR",
                               discount_rate=D("0.1"), horizon_years=3, first_year=2022,
                               lines=[services.PlanInput(0, "development", D(100_000))])
    row = bearer_client(people["auditor"]).get(f"{API}/ledger/portfolio/?ordering=plan_variance").json()
    pa = next(r for r in row["results"] if r["passport"] == "credit-score")
    assert pa["plan_variance"] == "160000.00"  # actual 60,000 against a plan to date of -100,000
    assert row["totals"]["plan_variance"] == "160000.00"


def test_portfolio_query_count_does_not_grow_with_passports(portfolio, people, django_assert_max_num_queries):
    from tests.factories import make_passport

    client = bearer_client(people["auditor"])
    client.get(f"{API}/ledger/portfolio/")
    for i in range(8):
        passport = make_passport(actor=people["developer"], key=f"extra-{i}", business_unit=portfolio.unit_a)
        book(portfolio.finance_a, passport, "staff", 10 + i)
    with django_assert_max_num_queries(14):
        body = client.get(f"{API}/ledger/portfolio/").json()
    assert body["count"] == 10


# --------------------------------------------------------------------------- exports and imports


def test_exports_neutralise_formulas_in_csv_and_xlsx(org, people):
    for text in ("=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)"):
        book(org.finance_a, org.pa, "staff", 10, description=text, evidence_text=text)
    client = bearer_client(people["auditor"])
    response = client.get(f"{API}/passports/{org.pa.key}/ledger/export/?file_format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(row["description"] for row in rows) == sorted(
        ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2", "'@SUM(A1)"])
    assert {row["amount_base"] for row in rows} == {"-10.00"}  # numbers stay numbers
    response = client.get(f"{API}/passports/{org.pa.key}/ledger/export/?file_format=xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    described = [row[header.index("description")] for row in sheet.iter_rows(min_row=2)]
    assert all(cell.data_type == "s" and cell.value.startswith("'") for cell in described)
    amounts = [row[header.index("amount_base")].value for row in sheet.iter_rows(min_row=2)]
    assert amounts == [-10] * 4


def test_control_characters_in_stored_text_do_not_break_any_xlsx_export(org, people):
    """An ANSI escape in a description used to make openpyxl refuse every workbook holding it, for good."""
    book(org.finance_a, org.pa, "staff", 10, description="\x1b[31mred\x1b[0m \x07bell", evidence_text="tab\tok")
    client = bearer_client(people["auditor"])
    for url in (f"{API}/passports/{org.pa.key}/ledger/export/?file_format=xlsx",
                f"{API}/ledger/entries/export/?file_format=xlsx", f"{API}/ledger/portfolio/export/?file_format=xlsx"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        load_workbook(io.BytesIO(response.content))  # a valid workbook
    sheet = load_workbook(io.BytesIO(client.get(
        f"{API}/passports/{org.pa.key}/ledger/export/?file_format=xlsx").content)).active
    header = [cell.value for cell in sheet[1]]
    row = [cell.value for cell in sheet[2]]
    assert row[header.index("description")] == "\ufffd[31mred\ufffd[0m \ufffdbell"
    assert row[header.index("evidence_text")] == "tab\tok"  # tab is legal XML and kept


def test_portfolio_export_neutralises_names(org, people):
    from registry import services as registry_services

    registry_services.passport_update(actor=org.developer, passport=org.pa, name="=1+2")
    response = bearer_client(people["auditor"]).get(f"{API}/ledger/portfolio/export/?file_format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {row["passport"]: row["name"] for row in rows}["credit-score"] == "'=1+2"


def _upload(text: str, dry_run: bool):
    return {"file": SimpleUploadedFile("entries.csv", text.encode(), "text/csv"), "dry_run": str(dry_run).lower()}


def test_import_with_bad_rows_books_nothing_and_reports_each_row(org, people):
    text = ("passport,period,category,amount,currency,fx_rate_to_base,description\n"
            "credit-score,2024-01,staff,100,EUR,,ok\n"
            "credit-score,2024-13,staff,100,EUR,,bad month\n"
            "nope,2024-01,staff,100,EUR,,unknown passport\n"
            "credit-score,2024-01,staff,1.5,JPY,0.006,yen decimals\n"
            "fraud-score,2024-01,staff,100,EUR,,other unit\n"
            "credit-score,2024-01,lunch,abc,EUR,,two problems\n")
    client = bearer_client(people["finance_a"])
    body = client.post(f"{API}/ledger/import/", _upload(text, dry_run=False), format="multipart").json()
    assert (body["ok"], body["rows"], body["booked"], body["preview"]) == (False, 6, 0, [])
    assert [(e["row"], e["field"]) for e in body["errors"]] == [
        (3, "period"), (4, "passport"), (5, "amount"), (6, None), (7, "category"), (7, "amount")]
    assert "unit-b" in body["errors"][3]["message"]
    assert not LedgerEntry.objects.exists()


def test_import_refuses_what_the_json_api_refuses(org, people):
    """A NUL byte the JSON API refuses was once booked by import and written into exports: the same rule now
    holds on both paths, and the file books nothing."""
    client = bearer_client(people["finance_a"])
    refused = client.post(f"{API}/passports/{org.pa.key}/ledger/entries/", {
        "category": "staff", "amount": "10", "currency": "EUR", "period": "2024-01", "description": "a\x00b"},
        format="json")
    assert_error(refused, 400)
    text = ("passport,period,category,amount,currency,description,evidence_text\n"
            "credit-score,2024-01,staff,100,EUR,fine,\n"
            "credit-score,2024-02,staff,100,EUR,a\x00b,\n"
            "credit-score,2024-03,staff,100,EUR,fine,ev\x00idence\n")
    body = client.post(f"{API}/ledger/import/", _upload(text, dry_run=False), format="multipart").json()
    assert body["ok"] is False and body["booked"] == 0
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "description"), (4, "evidence_text")]
    assert not LedgerEntry.objects.exists()


def test_import_dry_run_previews_then_commit_books_all(org, people):
    text = ("passport,period,category,amount,currency,fx_rate_to_base,description,predictions\n"
            "credit-score,2024-01,inference,100.10,USD,0.9,GPU bill,250000\n"
            "credit-score,2024-02,cost_saving,5000,EUR,,Fewer manual reviews,\n")
    client = bearer_client(people["finance_a"])
    preview = client.post(f"{API}/ledger/import/", _upload(text, dry_run=True), format="multipart").json()
    assert preview["ok"] and preview["booked"] == 0 and preview["totals"] == {"EUR": "4909.91"}
    assert [row["amount_base"] for row in preview["preview"]] == ["-90.09", "5000.00"]
    assert not LedgerEntry.objects.exists()
    booked = client.post(f"{API}/ledger/import/", _upload(text, dry_run=False), format="multipart")
    assert booked.status_code == 201 and booked.json()["booked"] == 2
    entries = LedgerEntry.objects.order_by("pk")
    assert [e.source for e in entries] == ["import", "import"] and entries[0].predictions == 250_000
    events = AuditEvent.objects.filter(action="ledger.entry_booked", data__source="import")
    assert {e.data["import_sha256"] for e in events} == {booked.json()["sha256"]}


def test_an_unreadable_file_is_a_400(people):
    client = bearer_client(people["finance_a"])
    response = client.post(f"{API}/ledger/import/", _upload("a,b\n1,2\n", dry_run=True), format="multipart")
    assert_error(response, 400, "invalid_csv")
