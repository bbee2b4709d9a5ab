"""A finding raised from a failed test: linked to the run and the test, shown on the test's row, prefilled from the
run page, and refused for a test that did not fail or a run of another version."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from django.urls import reverse

from core.errors import DomainError
from governance.audit.models import AuditEvent
from governance.workflow.models import Finding
from governance.workflow.services import findings as finding_services
from tests.api_helpers import assert_error, bearer_client
from tests.factories import make_passport
from tests.validation.conftest import TIER_3, _dataset, _setup
from validation import services
from validation.choices import RunState

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(developer, owner, team, cast, credit, eager, django_capture_on_commit_callbacks):
    """A succeeded run whose performance test failed: the validation labels are shuffled."""
    passport = make_passport(actor=developer, key="credit-fails", team=team, business_owner=owner, **TIER_3)
    s = _setup(passport, developer, cast, credit)
    shuffled = credit.holdout.copy()
    shuffled[credit.target] = np.random.default_rng(3).permutation(shuffled[credit.target].to_numpy())
    s.validation = _dataset(passport, developer, shuffled, "shuffled labels")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(actor=s.validator, version=s.version, reference=s.reference,
                                 validation=s.validation, target=s.target)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.failure_reason
    tests = run.results["tests"]
    s.failed = next(name for name in run.results["order"] if tests[name]["status"] == "failed")
    s.passed = next(name for name in run.results["order"] if tests[name]["status"] == "passed")
    s.run = run
    return s


def test_the_run_page_offers_a_finding_from_each_failed_test_and_lists_it(client, failing, developer, auditor):
    run, version = failing.run, failing.version
    client.force_login(failing.validator)
    page = client.get(reverse("validation:run_detail", args=[run.pk])).content.decode()
    link = (f"/passports/{version.passport.key}/versions/{version.number}/?finding_run={run.pk}"
            f"&amp;finding_test={failing.failed}#wf-findings")
    assert link in page and f"finding_test={failing.passed}#" not in page  # failed tests only
    # the version page opened from that link has the finding form open and prefilled
    version_page = client.get(link.replace("&amp;", "&").split("#")[0]).content.decode()
    assert '<details open id="finding-raise">' in version_page and 'id="finding-from-test"' in version_page
    assert f'name="finding-test" value="{failing.failed}"' in version_page
    assert f'name="finding-run" value="{run.pk}"' in version_page
    assert f"failed in validation run #{run.pk}" in version_page
    assert '<option value="high" selected>' in version_page  # a failed test proposes high severity
    response = client.post(reverse("governance:finding_raise", args=[version.passport.key, version.number]), {
        "finding-title": "AUC collapsed on the holdout", "finding-severity": "high", "finding-owner": developer.pk,
        "finding-due_date": "2031-01-31", "finding-run": run.pk, "finding-test": failing.failed})
    assert response.status_code == 302
    finding = Finding.objects.get()
    assert finding.run == run and finding.test == failing.failed
    event = AuditEvent.objects.filter(action="finding.raised").latest("seq")
    assert event.data["run"] == run.pk and event.data["test"] == failing.failed
    page = client.get(reverse("validation:run_detail", args=[run.pk])).content.decode()
    assert f"#finding-{finding.pk}" in page  # on the failed test's row
    version_page = client.get(reverse("registry:version_detail", args=[version.passport.key,
                                                                        version.number])).content.decode()
    assert f'href="/validation/runs/{run.pk}/#test-{failing.failed}"' in version_page
    # people who may not raise findings get no link
    client.force_login(auditor)
    assert "finding_run=" not in client.get(reverse("validation:run_detail", args=[run.pk])).content.decode()


def test_a_finding_is_refused_for_a_test_that_did_not_fail_or_a_run_of_another_version(failing, developer, cast,
                                                                                        credit, owner, team):
    common = {"actor": failing.validator, "version": failing.version, "title": "x", "severity": "low",
              "owner": developer, "due_date": date(2031, 1, 1)}
    with pytest.raises(DomainError) as caught:
        finding_services.finding_raise(**common, run=failing.run, test=failing.passed)
    assert caught.value.code == "test_not_failed" and caught.value.field == "test"
    with pytest.raises(DomainError) as caught:
        finding_services.finding_raise(**common, run=failing.run, test="no-such-test")
    assert caught.value.code == "test_not_failed"
    with pytest.raises(DomainError) as caught:
        finding_services.finding_raise(**common, run=failing.run.pk + 999, test=failing.failed)
    assert caught.value.field == "run"
    with pytest.raises(DomainError) as caught:
        finding_services.finding_raise(**common, run=failing.run, test="")
    assert caught.value.field == "test"
    other = _setup(make_passport(actor=developer, key="credit-other", team=team, business_owner=owner, **TIER_3),
                   developer, cast, credit)
    with pytest.raises(DomainError) as caught:
        finding_services.finding_raise(actor=other.validator, version=other.version, title="x", severity="low",
                                       owner=developer, due_date=date(2031, 1, 1), run=failing.run,
                                       test=failing.failed)
    assert caught.value.field == "run"
    assert not Finding.objects.exists()


def test_the_api_raises_a_finding_from_a_failed_test(failing, developer):
    version = failing.version
    url = f"/api/v1/passports/{version.passport.key}/versions/{version.number}/findings/"
    api = bearer_client(failing.validator)
    body = {"title": "Calibration off", "severity": "medium", "owner": developer.username, "due_date": "2031-02-01"}
    refused = api.post(url, {**body, "run": failing.run.pk, "test": failing.passed}, format="json")
    assert_error(refused, 400, "test_not_failed")
    created = api.post(url, {**body, "run": failing.run.pk, "test": failing.failed}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["run"] == failing.run.pk and created.json()["test"] == failing.failed
