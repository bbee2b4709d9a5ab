"""The audit log in Chromium: an auditor reads the events as sentences, follows a link, filters by action and
date with the form, and downloads the CSV of what is filtered; screenshots in both languages at both widths."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone

from governance.audit.models import AuditEvent
from tests.api_helpers import raw_sql
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import Cast, approve_validated, register, to_validated
from tests.ui.test_browser_signoff import CHROMIUM, browser, open_as, shoot_pages  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_auditor_reads_filters_and_exports_the_log(live_server, browser):  # noqa: F811
    developer = UserFactory(username="dev", roles=["model_developer"], display_name="Dev Eloper")
    owner = UserFactory(username="owner", roles=["model_owner"], display_name="Olga Owner")
    UserFactory(username="auditor", roles=["auditor"], display_name="Alex Auditor")
    cast = Cast()
    team = TeamFactory(name="Browser team", members=[developer])
    passport = make_passport(actor=developer, key="audit-browser", team=team, business_owner=owner)
    version = approve_validated(to_validated(register(passport, developer), developer, cast), cast, owner)
    old = AuditEvent.objects.filter(action="passport.created").first()
    raw_sql("UPDATE governance_auditevent SET occurred_at = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(days=10), old.pk])  # append-only: as the tables' owner would

    page = open_as(browser, live_server, "auditor", "/audit/")
    row = page.locator("#audit-table tr[data-action='version.submitted']")
    assert " ".join(row.locator(".event-sentence").inner_text().split()) == \
        "Dev Eloper submitted version 1 of audit-browser for validation."
    row.locator(".event-sentence a").click()
    page.wait_for_url(f"{live_server.url}/passports/audit-browser/versions/{version.number}/")

    page.goto(f"{live_server.url}/audit/")
    page.select_option("#id_action", "signoff.recorded")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#audit-table tbody tr").count() == 4
    assert page.locator("#audit-table tbody tr[data-action='signoff.recorded']").count() == 4

    today = timezone.now().astimezone(dt.UTC).date()
    page.goto(f"{live_server.url}/audit/")
    page.fill("#id_date_to", str(today - dt.timedelta(days=1)))
    page.click("#audit-filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#audit-table tbody tr").count() == 1
    assert page.locator("#audit-table tbody tr[data-action='passport.created']").count() == 1

    page.goto(f"{live_server.url}/audit/?action=signoff.recorded")
    with page.expect_download() as info:
        page.click("#audit-export")
    body = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["action"] for r in rows] == ["signoff.recorded"] * 4
    assert rows[-1]["summary"] == "Olga Owner signed version 1 of audit-browser as Business owner: Approve."

    shoot_pages(page, live_server, {"log": "/audit/", "signoffs": "/audit/?action=signoff."}, "audit")
    assert page.console_errors == []
