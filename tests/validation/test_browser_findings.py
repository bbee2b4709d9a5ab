"""In Chromium: the validator raises a finding from a failed test on the run page; the version page opens with the
form filled from the test, and both pages then show the link between the finding and the test."""

from __future__ import annotations

import pytest

from governance.workflow.models import Finding
from tests.ui.test_browser_signoff import browser, open_as, shoot_pages  # noqa: F401  (browser is a fixture)
from tests.validation.test_findings_from_tests import failing  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_validator_raises_a_finding_from_a_failed_test(live_server, browser, failing, developer):  # noqa: F811
    run = failing.run
    page = open_as(browser, live_server, failing.validator.username, f"/validation/runs/{run.pk}/")
    row = page.locator(f"#run-summary-table tr[data-test={failing.failed}]")
    row.locator("a.raise-finding").click()
    page.wait_for_url("**/versions/*/?finding_run=*")
    form = page.locator("#finding-raise")
    assert form.get_attribute("open") is not None and page.locator("#finding-from-test").is_visible()
    assert f"#{run.pk}" in page.locator("#id_finding-title").input_value()
    assert page.locator("#id_finding-severity").input_value() == "high"
    page.fill("#id_finding-due_date", "2031-03-31")
    page.select_option("#id_finding-owner", str(developer.pk))
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    finding = Finding.objects.get()
    assert finding.run_id == run.pk and finding.test == failing.failed
    assert page.locator(f"#finding-{finding.pk} a.finding-test").is_visible()
    shoot_pages(page, live_server, {
        "run": f"/validation/runs/{run.pk}/",
        "version": f"/passports/{failing.version.passport.key}/versions/{failing.version.number}/"
                   f"?finding_run={run.pk}&finding_test={failing.failed}",
    }, "finding-from-test")
    assert page.console_errors == []
