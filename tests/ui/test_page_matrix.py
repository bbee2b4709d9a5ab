"""The access matrix of every page: anonymous visitors go to the login page, refused users get 404 (an object they
may not see) or 403 (one they see but may not act on) and change nothing, the allowed user gets through.

``PAGES`` has a row per URL name of the UI; ``tests/architecture/test_access_matrix.py`` fails when a page has
none. Rows run in order against one world (``tests.house``): reads first, then the writes, each on objects in
the state it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.urls import reverse

from governance.audit.models import AuditEvent
from tests.governance.workflow_helpers import PASSWORD
from tests.house import build_house

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Page:
    """One page: ``name`` (a URL name), its ``args`` in the world, the ``method``; ``denied`` (user, status) pairs
    whose requests change nothing; ``allowed`` the user who gets ``status``; ``data`` a form body for POSTs."""

    name: str
    args: Callable[[SimpleNamespace], list]
    allowed: str
    status: int
    denied: tuple[tuple[str, int], ...] = ()
    method: str = "GET"
    data: Callable[[SimpleNamespace], dict] | None = None
    public: bool = False  # the login page and the site root answer anonymous visitors themselves


def key(w):
    return [w.key]


def ver(w):
    return [w.key, w.number]


OUT = (("outsider", 404),)
PAGES = [
    # --- reads
    Page("home", lambda w: [], "developer", 302, public=True),
    Page("login", lambda w: [], "developer", 302, public=True),
    Page("governance:audit_log", lambda w: [], "auditor", 200, (("developer", 403),)),
    Page("governance:audit_export", lambda w: [], "auditor", 200, (("developer", 403),)),
    Page("governance:token_list", lambda w: [], "developer", 200),
    Page("governance:inbox", lambda w: [], "val", 200),
    Page("governance:portfolio", lambda w: [], "risk", 200),
    Page("governance:job_list", lambda w: [], "developer", 200),
    Page("governance:job_detail", lambda w: [_job(w)], "auditor", 200, (("developer", 404), ("admin", 404))),
    Page("governance:job_progress", lambda w: [_job(w)], "auditor", 200, (("developer", 404),)),
    Page("governance:job_download", lambda w: [_job(w)], "auditor", 200, (("developer", 404), ("admin", 404))),
    Page("governance:passport_dossier", key, "auditor", 200, (*OUT, ("developer", 403))),
    Page("governance:passport_evidence_pack", key, "auditor", 200, (*OUT, ("developer", 403))),
    Page("governance:report_download", lambda w: [*ver(w), w.report], "val", 200, OUT),
    Page("governance:checklist_attachment", lambda w: [*ver(w), w.code], "sec", 200, OUT),
    Page("governance:finance_portfolio", lambda w: [], "finance", 200, (("outsider", 200),)),  # merely empty
    Page("governance:passport_ledger", key, "finance", 200, (*OUT, ("developer", 404))),  # amounts unseen
    Page("governance:ledger_import", lambda w: [], "finance", 200, (("developer", 403),)),
    Page("governance:ledger_evidence", lambda w: [w.key, w.entry], "finance", 200, (*OUT, ("developer", 404))),
    Page("governance:business_case", key, "finance", 200, (*OUT, ("developer", 404))),
    Page("governance:ledger_ab", key, "finance", 200, (*OUT, ("developer", 404))),
    Page("registry:passport_list", lambda w: [], "developer", 200),
    Page("registry:passport_create", lambda w: [], "developer", 200, (("outsider", 403),)),
    Page("registry:tier_preview", lambda w: [], "developer", 200),
    Page("registry:passport_detail", key, "developer", 200, OUT),
    Page("registry:passport_edit", key, "owner", 200, (*OUT, ("val", 403))),
    Page("registry:passport_retier", key, "risk", 200, (*OUT, ("developer", 403), ("owner", 403))),
    Page("registry:version_upload", key, "developer", 200, (*OUT, ("owner", 403))),
    Page("registry:version_import_mlflow", key, "developer", 200, (*OUT, ("owner", 403))),
    Page("registry:version_detail", ver, "developer", 200, OUT),
    Page("registry:dataset_upload", key, "developer", 200, (*OUT, ("owner", 403))),
    Page("validation:run_list", lambda w: [], "val", 200),
    Page("validation:run_detail", lambda w: [w.run], "val", 200, OUT),
    Page("validation:run_progress", lambda w: [w.run], "val", 200, OUT),
    Page("validation:version_runs", ver, "val", 200, OUT),
    Page("validation:explain", ver, "val", 200, OUT),
    Page("validation:report_issue", lambda w: [w.run], "val", 200, OUT),
    Page("validation:report_html", lambda w: [w.report], "val", 200, OUT),
    Page("validation:report_pdf", lambda w: [w.report], "val", 200, OUT),
    # --- writes (each refused user first, then the allowed one)
    Page("governance:audit_verify", lambda w: [], "auditor", 302, (("developer", 403),), "POST", lambda w: {}),
    Page("registry:passport_edit", key, "owner", 302, (*OUT, ("val", 403)), "POST", lambda w: _edit_data(w)),
    Page("registry:version_refine_schema", lambda w: [w.key, w.draft], "developer", 302, (*OUT, ("owner", 403)),
         "POST", lambda w: {"feature_schema": json.dumps(w.passport.versions.get(number=w.draft).feature_schema)}),
    Page("registry:version_import_mlflow", key, "developer", 400, (*OUT, ("owner", 403)), "POST",
         lambda w: {"model_uri": "models:/credit/1"}),  # no server allowed here: the form says so, nothing changes
    Page("registry:mlflow_follow_stop", lambda w: [w.key, _follow(w)], "developer", 302, (*OUT, ("owner", 403)),
         "POST", lambda w: {}),
    Page("registry:alias_set", key, "developer", 302, (*OUT, ("val", 403)), "POST",
         lambda w: {"name": "candidate", "version": w.passport.versions.get(number=w.draft).pk}),
    Page("governance:version_submit", lambda w: [w.key, w.draft], "developer", 302, (*OUT, ("val", 403)), "POST",
         lambda w: {}),
    Page("governance:validator_assign", ver, "risk", 302, (*OUT, ("val", 403)), "POST",
         lambda w: {"assign-validator": w.users["val2"].pk}),
    Page("governance:finding_raise", ver, "val", 302, (*OUT, ("developer", 403)), "POST",
         lambda w: {"finding-title": "Gap", "finding-severity": "low", "finding-owner": w.users["developer"].pk,
                    "finding-due_date": "2031-01-01"}),
    Page("governance:finding_set_status", lambda w: [*ver(w), w.finding], "developer", 302,
         (*OUT, ("auditor", 403)), "POST",
         lambda w: {f"finding-{w.finding}-status": "remediated", f"finding-{w.finding}-note": "Done."}),
    Page("governance:checklist_answer", lambda w: [*ver(w), "ML07"], "sec", 302, (*OUT, ("val", 403)), "POST",
         lambda w: {"ml07-status": "mitigated", "ml07-evidence": "Reviewed."}),
    Page("validation:run_start", ver, "val", 302, (*OUT, ("sec", 403)), "POST",
         lambda w: {"run-reference": w.reference.pk, "run-validation": w.validation.pk, "run-target": w.target}),
    Page("validation:run_cancel", lambda w: [_newest_run()], "val", 302, (*OUT, ("sec", 403)), "POST",
         lambda w: {}),
    Page("governance:report_issue", ver, "val", 302, (*OUT, ("sec", 403)), "POST",
         lambda w: {"report-conclusion": "Fit.", "report-rating": "fit", "report-file": _report_file()}),
    # in validation still: the risk officer may accept tests, but only on a validated version
    Page("governance:test_accept", ver, "risk", 409, (*OUT, ("developer", 403)), "POST",
         lambda w: {"accept-test": "performance", "accept-rationale": "Within the appetite agreed with the board."}),
    Page("governance:version_mark_validated", ver, "val", 302, (*OUT, ("sec", 403)), "POST", lambda w: {}),
    Page("governance:signoff_record", ver, "val", 302, (*OUT, ("developer", 403)), "POST",
         lambda w: {"sign-role": "validator", "sign-decision": "approve", "sign-password": PASSWORD}),
    Page("governance:version_reject", lambda w: [w.key, w.draft], "risk", 302, (*OUT, ("val2", 403)), "POST",
         lambda w: {"reject-reason": "Not yet."}),
    Page("governance:version_revoke", ver, "risk", 409, (*OUT, ("val", 403)), "POST",
         lambda w: {"revoke-reason": "Incident."}),
    Page("governance:version_retire", ver, "owner", 409, (*OUT, ("val", 403)), "POST",
         lambda w: {"retire-reason": "Replaced."}),
    Page("governance:ledger_book", key, "finance", 302, (*OUT, ("developer", 404)), "POST",
         lambda w: {"book-category": "cost_saving", "book-amount": "10", "book-currency": "EUR",
                    "book-period": "2025-02", "book-description": "Saving"}),
    Page("governance:ledger_reverse", lambda w: [w.key, w.entry], "finance", 302, (*OUT, ("developer", 404)),
         "POST", lambda w: {"reverse-reason": "Booked twice."}),
    Page("governance:token_revoke", lambda w: [w.token], "developer", 302, (("outsider", 404),), "POST",
         lambda w: {}),
    Page("governance:passport_dossier_prepare", key, "auditor", 302, (*OUT, ("developer", 403)), "POST",
         lambda w: {}),
    Page("governance:passport_evidence_pack_prepare", key, "auditor", 302, (*OUT, ("developer", 403)), "POST",
         lambda w: {}),
    # the tier rises (a version is under review: it may only rise, for the next submission)
    Page("registry:passport_retier", key, "risk", 302, (*OUT, ("developer", 403), ("owner", 403)), "POST",
         lambda w: {"materiality": "high", "decision_type": w.passport.decision_type,
                    "regulatory_exposure": w.passport.regulatory_exposure,
                    "business_owner": w.passport.business_owner_id, "reason": "Exposure grew past the threshold."}),
    Page("logout", lambda w: [], "developer", 302, method="POST", data=lambda w: {}, public=True),
]


def _follow(w) -> int:
    """A followed MLflow model of the passport (made once per world)."""
    if not hasattr(w, "follow"):
        from registry.models import MlflowFollow

        w.follow = MlflowFollow.objects.create(passport=w.passport, tracking_uri="http://mlflow.invalid",
                                               registered_model="credit", created_by=w.users["developer"]).pk
    return w.follow


def _job(w) -> int:
    """A finished dossier job of the auditor's, with its file (made once per world)."""
    if not hasattr(w, "job"):
        from django.core.files.base import ContentFile

        from governance.jobs.models import Job

        job = Job.objects.create(kind="dossier.pdf", params={"passport": w.key}, title="Dossier",
                                 created_by=w.users["auditor"], state="succeeded", progress=100,
                                 result_name="d.pdf", result_content_type="application/pdf")
        job.result_file.save("d.pdf", ContentFile(b"%PDF-1.7 test"))
        w.job = job.pk
    return w.job


def _newest_run() -> int:
    from validation.models import ValidationRun

    return ValidationRun.objects.latest("pk").pk


def _edit_data(w) -> dict:
    from registry.forms import PassportEditForm

    form = PassportEditForm(instance=w.passport)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = field.prepare_value(value) if isinstance(value, dict | list) else value
    return {**data, "name": "House model"}


def _report_file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("report.md", b"# Report\nFit for purpose.")


def _request(client, page: Page, w):
    url = reverse(page.name, args=page.args(w))
    if page.method == "GET":
        return client.get(url)
    return client.post(url, page.data(w) if page.data else {})


def _check(client, page: Page, w) -> list[str]:
    problems = []
    client.logout()
    if not page.public:
        response = _request(client, page, w)
        if response.status_code != 302 or "/login/" not in response["Location"]:
            problems.append(f"anonymous: {response.status_code}, not the login page")
    for name, status in page.denied:
        client.force_login(w.users[name])
        events = AuditEvent.objects.count()
        response = _request(client, page, w)
        if response.status_code != status:
            problems.append(f"{name}: {response.status_code}, expected {status}")
        if AuditEvent.objects.count() != events:
            problems.append(f"{name}: a refused request changed something")
    client.force_login(w.users[page.allowed])
    response = _request(client, page, w)
    if response.status_code != page.status:
        problems.append(f"{page.allowed}: {response.status_code}, expected {page.status}")
    if response.status_code < 400 and "content-security-policy" not in {k.lower() for k in response.headers}:
        problems.append("no Content-Security-Policy header")
    return problems


def check_pages(client, pages, w) -> None:
    """Every row of ``pages`` in order against the world ``w``; all the problems are reported together."""
    failures = {}
    for page in pages:
        problems = _check(client, page, w)
        if problems:
            failures[f"{page.method} {page.name}"] = problems
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_every_page_keeps_its_doors(client, django_capture_on_commit_callbacks):
    check_pages(client, PAGES, build_house(django_capture_on_commit_callbacks))
