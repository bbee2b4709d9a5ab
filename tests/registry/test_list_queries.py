"""List pages and list endpoints run a fixed number of queries, whatever the number of rows shown (no N+1).

Data comes from ``seed_scale`` (passports with versions, aliases, owners, teams). Each check is made as the
all-seeing auditor and as a team developer, whose visibility filter takes another path.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve

from governance.accounts.models import User
from registry.management.commands.bench_lists import measure

pytestmark = pytest.mark.django_db

USERS = ["scale-auditor", "scale-dev-000"]


def _seed(passports: int, versions: int, audit_events: int = 0) -> None:
    call_command("seed_scale", passports=passports, versions=versions, audit_events=audit_events, yes=True,
                 stdout=StringIO())


def _client(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _queries(client: Client, url: str):
    """(query count, response) of one GET of ``url``, after a warm-up GET (process-wide caches fill once)."""
    try:
        resolve(url.split("?")[0])
    except Resolver404:
        pytest.fail(f"{url} is not routed yet: the query-count check cannot run until the URL exists.")
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, f"GET {url}: {response.status_code}"
    return len(captured), response


def _shown(response) -> int:
    return len(response.json()["results"])


@pytest.mark.parametrize("username", USERS)
def test_passport_list_page_queries_do_not_grow_with_rows(username):
    """The UI shows 25 per page without a per-page option: page 1 of 10 passports against page 1 of 60."""
    _seed(10, 30)
    few, small = _queries(_client(username), "/passports/")
    _seed(60, 180)
    many, large = _queries(_client(username), "/passports/")
    assert len(small.context["page"].object_list) == 10 and len(large.context["page"].object_list) == 25
    assert few == many, f"passport list page: {few} queries for 10 rows, {many} for 25"


@pytest.mark.parametrize("username", USERS)
def test_passport_list_page_with_filters_queries_do_not_grow_with_rows(username):
    _seed(10, 30)
    few, _ = _queries(_client(username), "/passports/?q=model&tier=1")
    _seed(60, 180)
    many, _ = _queries(_client(username), "/passports/?q=model&tier=1")
    assert few == many


@pytest.mark.parametrize("username", USERS)
def test_api_passports_queries_do_not_grow_with_page_size(username):
    _seed(60, 180)
    client = _client(username)
    few, small = _queries(client, "/api/v1/passports/?page_size=5")
    many, large = _queries(client, "/api/v1/passports/?page_size=50")
    assert (_shown(small), _shown(large)) == (5, 50)
    assert few == many, f"/api/v1/passports/: {few} queries for 5 rows, {many} for 50"


@pytest.mark.parametrize("username", USERS)
def test_api_versions_queries_do_not_grow_with_page_size(username):
    _seed(1, 60)  # one passport with all 60 versions
    client = _client(username)
    key = "scale-credit-00000"
    few, small = _queries(client, f"/api/v1/passports/{key}/versions/?page_size=5")
    many, large = _queries(client, f"/api/v1/passports/{key}/versions/?page_size=50")
    assert (_shown(small), _shown(large)) == (5, 50)
    assert few == many, f"versions list: {few} queries for 5 rows, {many} for 50"


def test_api_audit_events_queries_do_not_grow_with_page_size():
    _seed(20, 40, audit_events=60)
    client = _client("scale-auditor")
    few, small = _queries(client, "/api/v1/audit-events/?page_size=5")
    many, large = _queries(client, "/api/v1/audit-events/?page_size=50")
    assert (_shown(small), _shown(large)) == (5, 50)
    assert few == many


def test_bench_lists_measures_every_url_for_both_users():
    _seed(12, 40, audit_events=20)
    out = StringIO()
    call_command("bench_lists", repeat=2, warmup=0, stdout=out)
    report = json.loads(out.getvalue().splitlines()[-1])
    assert report["passports"] == 12 and report["visible_passports"] == {"auditor": 12, "developer": 12}
    assert len(report["results"]) == 10
    assert {row["status"] for row in report["results"]} == {200}, [(r["url"], r["status"]) for r in report["results"]]
    assert all(row["queries"] > 0 and row["p95_ms"] >= row["median_ms"] > 0 for row in report["results"])


def test_bench_lists_reports_an_unrouted_url_as_missing():
    assert measure(Client(), "/no-such-list/", repeat=1, warmup=0) == {"url": "/no-such-list/", "status": "missing"}
