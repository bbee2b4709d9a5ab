"""The validator's structured rating of a report (fit / fit with conditions / not fit): required, its conditions
become dated findings in the same transaction, it is frozen into the documents, a "not fit" report cannot
complete the validation, and the version page, the portfolio and the dossier show it."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.errors import Conflict, DomainError
from governance.audit.models import AuditEvent
from governance.audit.services import audit_verify
from governance.dossier.records import dossier_records
from governance.workflow.models import Finding
from governance.workflow.services import transitions as workflow
from tests.api_helpers import assert_error, bearer_client
from tests.validation.test_reports import done  # noqa: F401  (a fixture)
from validation import services
from validation.models import ValidationReport

pytestmark = pytest.mark.django_db

CONDITIONS = [{"text": "Recalibrate on Q3 data", "due_date": "2031-09-30"},
              {"text": "Monitor PSI of income monthly", "due_date": "2031-12-31"}]


def test_the_rating_is_required_and_its_conditions_must_fit_it(done, cast):  # noqa: F811
    issue = {"actor": cast.validator, "run": done.run, "conclusion": "Fit."}
    for kwargs, code, field in (({}, "required", "rating"), ({"rating": "great"}, "invalid", "rating"),
                                ({"rating": "fit_with_conditions"}, "required", "conditions"),
                                ({"rating": "fit", "conditions": CONDITIONS}, "invalid", "conditions"),
                                ({"rating": "fit_with_conditions", "conditions": [{"text": "x"}]}, "invalid",
                                 "conditions")):
        with pytest.raises(DomainError) as caught:
            services.report_issue_generated(**issue, **kwargs)
        assert (caught.value.code, caught.value.field) == (code, field), kwargs
    assert not ValidationReport.objects.exists() and not Finding.objects.filter(from_report__isnull=False).exists()


def test_conditions_become_dated_findings_and_are_frozen_into_the_report(done, cast):  # noqa: F811
    report = services.report_issue_generated(actor=cast.validator, run=done.run, conclusion="Fit, with conditions.",
                                             rating="fit_with_conditions", conditions=CONDITIONS)
    assert report.rating == "fit_with_conditions" and report.conditions == CONDITIONS
    findings = list(report.condition_findings.order_by("due_date"))
    assert [(f.title, f.due_date.isoformat(), f.severity, f.owner) for f in findings] == [
        (c["text"], c["due_date"], "medium", done.version.passport.technical_owner) for c in CONDITIONS]
    event = AuditEvent.objects.filter(action="report.issued").latest("seq")
    assert event.data["rating"] == "fit_with_conditions" and event.data["conditions"] == CONDITIONS
    assert AuditEvent.objects.filter(action="finding.raised", data__condition_of_report=report.pk).count() == 2
    html = default_storage.open(report.file.name).read().decode()
    assert 'data-rating="fit_with_conditions"' in html and "Recalibrate on Q3 data" in html and "2031-09-30" in html


def test_a_report_rated_not_fit_cannot_complete_the_validation(done, cast):  # noqa: F811
    services.report_issue_generated(actor=cast.validator, run=done.run, conclusion="Not fit.", rating="not_fit")
    with pytest.raises(Conflict) as caught:
        workflow.version_mark_validated(actor=cast.validator, version=done.version)
    assert caught.value.code == "rated_not_fit"
    done.version.refresh_from_db()
    assert done.version.state == "in_validation"


def test_the_api_takes_the_rating_and_conditions_for_both_kinds_of_report(done, cast):  # noqa: F811
    api = bearer_client(cast.validator)
    url = f"/api/v1/validation/runs/{done.run.pk}/report/"
    assert_error(api.post(url, {"conclusion": "Fit."}, format="json"), 400, "invalid")
    assert_error(api.post(url, {"conclusion": "Fit.", "rating": "fit_with_conditions"}, format="json"), 400,
                 "required")
    created = api.post(url, {"conclusion": "Fit.", "rating": "fit_with_conditions", "conditions": CONDITIONS},
                       format="json")
    assert created.status_code == 201, created.content
    assert created.json()["rating"] == "fit_with_conditions" and created.json()["conditions"] == CONDITIONS
    version = done.version
    upload_url = f"/api/v1/passports/{version.passport.key}/versions/{version.number}/report/"
    uploaded = api.post(upload_url, {"file": SimpleUploadedFile("r.md", b"# Report"), "conclusion": "Fit.",
                                     "rating": "fit_with_conditions", "conditions": json.dumps(CONDITIONS[:1])},
                        format="multipart")
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["rating"] == "fit_with_conditions" and len(uploaded.json()["conditions"]) == 1
    assert Finding.objects.filter(from_report__isnull=False).count() == 3


def test_the_version_page_the_portfolio_and_the_dossier_show_the_rating(done, cast, client, auditor):  # noqa: F811
    services.report_issue_generated(actor=cast.validator, run=done.run, conclusion="Fit, with conditions.",
                                    rating="fit_with_conditions", conditions=CONDITIONS[:1])
    client.force_login(auditor)
    version = done.version
    page = client.get(reverse("registry:version_detail", args=[version.passport.key, version.number]))
    assert 'data-rating="fit_with_conditions"' in page.content.decode()
    portfolio = client.get(reverse("governance:portfolio")).content.decode()
    assert '<li class="list-inline-item me-4" data-rating="fit_with_conditions">' in portfolio
    api = bearer_client(auditor).get("/api/v1/portfolio/").json()
    assert api["ratings"]["fit_with_conditions"] == 1 and api["ratings"]["not_fit"] == 0
    records = dossier_records(version.passport, verification=audit_verify())
    (row,) = [v for v in records["versions"] if v["number"] == version.number]
    assert row["reports"][0]["rating"] == "fit_with_conditions"
    assert row["reports"][0]["conditions"] == CONDITIONS[:1]


@pytest.mark.parametrize("bad", [True, 5, "text", {"text": "x", "due_date": "2027-01-01"}])
def test_conditions_that_are_not_a_list_are_refused_naming_the_field(bad):
    from core.conditions import clean_conditions
    from core.errors import DomainError

    with pytest.raises(DomainError) as raised:
        clean_conditions(bad)
    assert raised.value.field == "conditions" and raised.value.code == "invalid"
    assert clean_conditions(None) == [] and clean_conditions([]) == []
