"""The tier policy's tests cannot be skipped in silence, nor failed ones waved through: a report of a run that
skipped a required test needs the validator's justified exception for each (frozen into the report), and the
version is approved only after a risk officer accepts every failed or excepted test, by name and with a
rationale; the acceptances show in the dossier and the evidence pack."""

from __future__ import annotations

import pytest

from core.errors import DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.audit.services import audit_verify
from governance.dossier.records import dossier_records
from governance.workflow.models import TestAcceptance
from governance.workflow.services import signoffs as signoff_services
from governance.workflow.services import transitions as workflow
from registry.choices import VersionState
from tests.api_helpers import assert_error, bearer_client
from tests.factories import make_passport
from tests.governance.workflow_helpers import answer_checklist, sign
from tests.validation.conftest import _setup
from validation import services
from validation.choices import RunState
from validation.gaps import run_gaps
from validation.models import ValidationReport

pytestmark = pytest.mark.django_db
WHY = "No segment attribute exists for this portfolio; the champion was retired last quarter."


@pytest.fixture
def skipping(developer, owner, team, cast, credit, eager, django_capture_on_commit_callbacks):
    """A tier-1 version (full depth) whose run had neither a segment column nor a champion to compare with."""
    passport = make_passport(actor=developer, key="credit-gaps", team=team, business_owner=owner)
    s = _setup(passport, developer, cast, credit)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(actor=s.validator, version=s.version, reference=s.reference,
                                 validation=s.validation, target=s.target)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.failure_reason
    s.run = run
    return s


def test_a_run_that_skipped_required_tests_needs_a_justified_exception_for_each(skipping):
    run = skipping.run
    assert [g["test"] for g in run_gaps(run)["skipped"]] == ["segments", "champion"]
    with pytest.raises(DomainError) as refused:
        services.report_issue_generated(rating="fit", actor=skipping.validator, run=run, conclusion="Fit.")
    assert refused.value.code == "required_test_skipped" and refused.value.details["skipped"] == ["segments",
                                                                                                    "champion"]
    with pytest.raises(DomainError, match="champion"):
        services.report_issue_generated(rating="fit", actor=skipping.validator, run=run, conclusion="Fit.",
                                        exceptions={"segments": WHY, "champion": "n/a"})  # too thin
    with pytest.raises(DomainError, match="did not skip"):
        services.report_issue_generated(rating="fit", actor=skipping.validator, run=run, conclusion="Fit.",
                                        exceptions={"segments": WHY, "champion": WHY, "performance": WHY})
    assert not ValidationReport.objects.exists()
    report = services.report_issue_generated(rating="fit", actor=skipping.validator, run=run, conclusion="Fit.",
                                             exceptions={"segments": WHY, "champion": WHY})
    assert report.exceptions["segments"]["justification"] == WHY
    assert "No segment column" in report.exceptions["segments"]["skipped_because"]
    html = report.file.open("rb").read().decode()
    assert "What approval must accept" in html and WHY in html
    issued = AuditEvent.objects.get(action="report.issued")
    assert issued.data["exceptions"]["champion"]["justification"] == WHY


def test_approval_waits_for_a_risk_officer_to_accept_each_failed_or_excepted_test(
        skipping, cast, developer, owner, django_capture_on_commit_callbacks):
    version = skipping.version
    services.report_issue_generated(rating="fit", actor=cast.validator, run=skipping.run, conclusion="Fit.",
                                    exceptions={"segments": WHY, "champion": WHY})
    workflow.version_mark_validated(actor=cast.validator, version=version)
    answer_checklist(version, cast.security)
    for user, role in ((cast.validator, "validator"), (cast.risk, "risk_officer"), (cast.security, "security"),
                       (owner, "business_owner")):
        sign(version, user, role)
    version.refresh_from_db()
    gaps = signoff_services.tests_to_accept(version)
    failed = [g["test"] for g in run_gaps(skipping.run)["failed"]]
    assert [(g["test"], g["kind"]) for g in gaps] == [(t, "failed") for t in failed] + [
        ("segments", "excepted"), ("champion", "excepted")]
    assert version.state == VersionState.VALIDATED  # every sign-off is in, and still not approved
    assert [g["test"] for g in signoff_services.signoff_status(version).tests_unaccepted] == [g["test"] for g in gaps]

    with pytest.raises(PermissionDenied):
        signoff_services.test_accept(actor=developer, version=version, test="segments", rationale=WHY)
    with pytest.raises(DomainError, match="at least 20"):
        signoff_services.test_accept(actor=cast.risk, version=version, test="segments", rationale="ok")
    with pytest.raises(DomainError, match="not a failed or excepted test"):
        signoff_services.test_accept(actor=cast.risk, version=version, test="quality", rationale=WHY)

    url = f"/api/v1/passports/{version.passport.key}/versions/{version.number}/test-acceptances/"
    listed = bearer_client(cast.risk).get(url).json()
    assert [row["acceptance"] for row in listed] == [None] * len(gaps)
    first, *rest = [g["test"] for g in gaps]
    response = bearer_client(cast.risk).post(url, {"test": first, "rationale": WHY}, format="json")
    assert response.status_code == 201 and response.json()["accepted_by"] == "risk"
    assert_error(bearer_client(cast.risk).post(url, {"test": first, "rationale": WHY}, format="json"), 409,
                 "already_accepted")
    for test in rest:
        signoff_services.test_accept(actor=cast.risk, version=version, test=test, rationale=WHY)
    version.refresh_from_db()
    assert version.state == VersionState.APPROVED
    assert AuditEvent.objects.filter(action="test.accepted").count() == len(gaps)
    assert set(TestAcceptance.objects.values_list("test", flat=True)) == {g["test"] for g in gaps}

    records = dossier_records(version.passport, verification=audit_verify())
    (row,) = [v for v in records["versions"] if v["number"] == version.number]
    assert {a["test"] for a in row["test_acceptances"]} == {g["test"] for g in gaps}
    assert row["report_exceptions"]["segments"]["justification"] == WHY


def test_the_report_page_asks_for_the_exceptions(client, skipping, eager, django_capture_on_commit_callbacks):
    client.force_login(skipping.validator)
    url = f"/validation/runs/{skipping.run.pk}/issue/"
    page = client.get(url).content.decode()
    assert "Exception for &#x27;segments&#x27;" in page or "Exception for 'segments'" in page
    response = client.post(url, {"conclusion": "Fit.", "rating": "fit"})
    assert response.status_code == 400 and "skipped tests its tier policy requires" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"conclusion": "Fit.", "rating": "fit", "exception_segments": WHY,
                                     "exception_champion": WHY})
    assert response.status_code == 302 and ValidationReport.objects.get().exceptions["champion"]["justification"]
