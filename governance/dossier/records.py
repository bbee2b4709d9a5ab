"""The auditor dossier of one passport: its records gathered as plain JSON, and their PDF.

``dossier_records`` reads everything an audit of a passport needs (passport, datasets, every version with its
review, sign-offs and whether each still counts, findings, OWASP checklist, validation reports and runs, the
passport's audit events, and the whole chain's verification) into one JSON-serialisable dict. Its canonical bytes
(``records_json``) are what the evidence pack ships as ``records.json``; their sha256 is printed in every page
footer of the PDF, so a printed dossier and the pack's records can be matched. The caller decides who may read
them (``governance.workflow.permissions.can_export_evidence``); nothing here checks permissions or writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict

from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.links import absolute_url
from core.pdf import StaticOnlyFetcher, html_to_pdf
from governance.audit.models import AuditEvent
from governance.audit.services import ChainVerification
from governance.dossier import hooks
from governance.workflow.models import (
    ChecklistItem,
    Finding,
    SignOff,
    TestAcceptance,
    ValidatorAssignment,
    VersionReview,
)
from governance.workflow.services.signoffs import current_digests, signoff_is_current
from registry.models import Dataset, ModelPassport, ModelVersion
from validation.models import ValidationReport, ValidationRun

RECORDS_FORMAT = "model-governance/evidence-records/1"
DIGEST_NAMES = ("artifact_sha256", "report_sha256", "checklist_sha256")


def canonical_json(value) -> bytes:
    """The one byte form of records: sorted keys, no spaces, UTF-8 (the same form the audit chain hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _who(user) -> str | None:
    return user.get_username() if user is not None else None


def _when(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value.isoformat()


def event_record(event: AuditEvent) -> dict:
    """Every field ``governance.audit.services.event_hash`` hashes, in the form it hashes them, plus the hash."""
    return {
        "seq": event.seq, "occurred_at": _when(event.occurred_at), "actor_id": event.actor_id,
        "actor_repr": event.actor_repr, "action": event.action, "object_type": event.object_type,
        "object_id": event.object_id, "object_repr": event.object_repr, "passport_key": event.passport_key,
        "digests": event.digests, "data": event.data, "request_id": event.request_id,
        "prev_hash": event.prev_hash, "hash": event.hash,
    }


def passport_events(passport: ModelPassport):
    """The passport's audit events, oldest first: those tagged with its key and those about the passport row."""
    return AuditEvent.objects.filter(
        Q(passport_key=passport.key) | Q(object_type="registry.modelpassport", object_id=str(passport.pk))
    ).order_by("seq")


def _passport_record(passport: ModelPassport) -> dict:
    fields = ("key", "name", "purpose", "intended_use", "out_of_scope_uses", "materiality", "decision_type",
              "processes_personal_data", "regulatory_exposure", "risk_tier", "personal_data_legal_basis",
              "data_sources", "features_description", "target", "limitations", "stop_limits",
              "monitoring_thresholds", "contacts")
    return {
        **{name: getattr(passport, name) for name in fields},
        "business_owner": _who(passport.business_owner), "technical_owner": _who(passport.technical_owner),
        "development_team": passport.development_team.name, "business_unit": passport.business_unit.name,
        "created_by": _who(passport.created_by), "created_at": _when(passport.created_at),
        "updated_at": _when(passport.updated_at),
    }


def _dataset_record(dataset: Dataset) -> dict:
    return {"id": dataset.pk, "name": dataset.name, "kind": dataset.kind, "format": dataset.format,
            "sha256": dataset.sha256, "size": dataset.size, "row_count": dataset.row_count,
            "columns": len(dataset.schema or []), "uploaded_by": _who(dataset.uploaded_by),
            "created_at": _when(dataset.created_at)}


def _signoff_record(signoff: SignOff, digests: dict) -> dict:
    changed = [name for name in DIGEST_NAMES if getattr(signoff, name) != digests[name]]
    return {"id": signoff.pk, "role": signoff.role, "signer": _who(signoff.signer), "decision": signoff.decision,
            "comment": signoff.comment, "conditions": signoff.conditions, "signed_at": _when(signoff.signed_at),
            **{name: getattr(signoff, name) for name in DIGEST_NAMES},
            "counts": signoff.decision != "reject" and signoff_is_current(signoff, digests),
            "changed_digests": changed}


def _finding_record(finding: Finding) -> dict:
    return {"id": finding.pk, "title": finding.title, "description": finding.description,
            "severity": finding.severity, "status": finding.status, "owner": _who(finding.owner),
            "due_date": _when(finding.due_date), "raised_by": _who(finding.raised_by),
            "raised_at": _when(finding.raised_at), "resolution": finding.resolution,
            "accepted_by": _who(finding.accepted_by), "resolved_at": _when(finding.resolved_at),
            "from_signoff": finding.from_signoff_id}


def _checklist_record(item: ChecklistItem) -> dict:
    return {"code": item.code, "status": item.status,
            "evidence": item.evidence, "links": item.links, "attachment_sha256": item.attachment_sha256,
            "auto_evidence": item.auto_evidence, "answered_by": _who(item.answered_by),
            "answered_at": _when(item.answered_at)}


def _report_record(report, in_force_id) -> dict:
    pdf = getattr(report, "pdf_file", None)  # the rendered PDF of generated reports, where the model has one
    return {"id": report.pk, "source": report.source, "filename": report.filename, "sha256": report.sha256,
            "size": report.size, "conclusion": report.conclusion, "rating": report.rating or None,
            "conditions": list(report.conditions or []), "issued_by": _who(report.issued_by),
            "issued_at": _when(report.issued_at), "in_force": report.pk == in_force_id,
            "pdf_file": pdf.name if pdf else None, "pdf_sha256": getattr(report, "pdf_sha256", None) or None}


def run_summary(run) -> dict:
    """A run without its bulky results: inputs, digests, outcome and each test's status and headline value."""
    tests = (run.results or {}).get("tests") or {}
    order = (run.results or {}).get("order") or list(tests)
    return {
        "id": run.pk, "state": run.state, "outcome": run.outcome, "tier": run.tier, "depth": run.depth,
        "target": run.target, "segment_column": run.segment_column,
        "reference": {"name": run.reference.name, "sha256": run.reference.sha256},
        "validation": {"name": run.validation.name, "sha256": run.validation.sha256},
        "champion": run.champion.number if run.champion_id else None, "seed": run.seed, "digests": run.digests,
        "attempts": run.attempts, "worker": run.worker, "failure_reason": run.failure_reason,
        "started_by": _who(run.started_by), "created_at": _when(run.created_at),
        "finished_at": _when(run.finished_at), "duration_seconds": run.duration_seconds,
        "tests": [{"name": name, "status": tests[name].get("status"), "passed": tests[name].get("passed"),
                   "headline": tests[name].get("headline"), "value": tests[name].get("value"),
                   "threshold": tests[name].get("threshold"), "op": tests[name].get("op")}
                  for name in order if name in tests],
    }


def _grouped(queryset) -> dict[int, list]:
    groups: dict[int, list] = defaultdict(list)
    for row in queryset:
        groups[row.version_id].append(row)
    return groups


def _versions(passport: ModelPassport) -> list[dict]:

    of_passport = {"version__passport": passport}
    reviews = {r.version_id: r for r in VersionReview.objects.filter(**of_passport).select_related("submitted_by")}
    signoffs = _grouped(SignOff.objects.filter(**of_passport).select_related("signer").order_by("signed_at", "pk"))
    findings = _grouped(Finding.objects.filter(**of_passport).select_related(
        "owner", "raised_by", "accepted_by").order_by("raised_at", "pk"))
    checklist = _grouped(ChecklistItem.objects.filter(**of_passport).select_related("answered_by").order_by("code"))
    assignments = _grouped(ValidatorAssignment.objects.filter(**of_passport).select_related(
        "validator", "assigned_by"))
    reports = _grouped(ValidationReport.objects.filter(**of_passport).select_related("issued_by").order_by(
        "-issued_at", "-pk"))
    acceptances = _grouped(TestAcceptance.objects.filter(**of_passport).select_related("accepted_by"))
    runs: dict[int, list] = defaultdict(list)
    for run in ValidationRun.objects.filter(**of_passport).select_related(
            "reference", "validation", "champion", "started_by").order_by("-created_at", "-pk").iterator(
            chunk_size=20):
        runs[run.version_id].append(run_summary(run))  # results are dropped run by run: they can be large
    out = []
    for version in ModelVersion.objects.filter(passport=passport).select_related(
            "author", "training_dataset", "parent").order_by("number"):
        digests = current_digests(version)
        review, version_reports = reviews.get(version.pk), reports.get(version.pk, [])
        in_force = version_reports[0].pk if version_reports else None
        out.append({
            "number": version.number, "state": version.state, "sha256": version.sha256, "size": version.size,
            "opset": version.opset, "producer": f"{version.producer_name} {version.producer_version}".strip(),
            "author": _who(version.author), "created_at": _when(version.created_at),
            "approval_expires_at": _when(version.approval_expires_at),
            "parent": version.parent.number if version.parent_id else None,
            "training_dataset": version.training_dataset.name if version.training_dataset_id else None,
            "training_data_digest": version.training_data_digest, "change_description": version.change_description,
            "current_digests": digests,
            "review": None if review is None else {
                "policy": review.policy, "submitted_by": _who(review.submitted_by),
                "submitted_at": _when(review.submitted_at), "validated_at": _when(review.validated_at),
                "approved_at": _when(review.approved_at), "closed_reason": review.closed_reason},
            "assignments": [{"validator": _who(a.validator), "assigned_by": _who(a.assigned_by),
                             "assigned_at": _when(a.assigned_at)} for a in assignments.get(version.pk, [])],
            "signoffs": [_signoff_record(s, digests) for s in signoffs.get(version.pk, [])],
            "findings": [_finding_record(f) for f in findings.get(version.pk, [])],
            "checklist": {"sha256": digests["checklist_sha256"],
                          "items": [_checklist_record(i) for i in checklist.get(version.pk, [])]},
            "reports": [_report_record(r, in_force) for r in version_reports],
            "report_exceptions": version_reports[0].exceptions if version_reports else {},
            "test_acceptances": [_acceptance_record(a) for a in acceptances.get(version.pk, [])],
            "runs": runs.get(version.pk, []),
        })
    return out


def _acceptance_record(acceptance: TestAcceptance) -> dict:
    return {"test": acceptance.test, "kind": acceptance.kind, "rationale": acceptance.rationale,
            "report_sha256": acceptance.report_sha256, "accepted_by": _who(acceptance.accepted_by),
            "accepted_at": _when(acceptance.accepted_at)}


def dossier_records(passport: ModelPassport, *, verification: ChainVerification) -> dict:
    """Every record of ``passport`` an audit needs, as plain JSON values (see the module docstring).

    Only stored values, never labels in the request's language: the same records give the same digest."""
    passport = ModelPassport.objects.select_related(
        "business_owner", "technical_owner", "development_team", "business_unit", "created_by").get(pk=passport.pk)
    return {
        "format": RECORDS_FORMAT,
        "passport": _passport_record(passport),
        "datasets": [_dataset_record(d) for d in Dataset.objects.filter(passport=passport).select_related(
            "uploaded_by").order_by("created_at", "pk")],
        "versions": _versions(passport),
        "audit_events": [event_record(e) for e in passport_events(passport).iterator(chunk_size=2000)],
        "audit_chain": verification.as_dict(),
        **hooks.passport_records(passport),
    }


def render_dossier_pdf(records: dict, *, records_sha256: str, generated_by: str,
                       generated_at: dt.datetime | None = None, fetcher: StaticOnlyFetcher | None = None) -> bytes:
    """The dossier PDF of ``records``: table of contents, page numbers, and the generation time and
    ``records_sha256`` in every page footer. Every value is autoescaped; only static files may be fetched."""
    generated_at = (generated_at or timezone.now()).astimezone(dt.UTC)
    html = render_to_string("governance/dossier/dossier.html", {
        "r": records, "records_sha256": records_sha256, "generated_by": generated_by,
        "generated_at": generated_at, "chain": records["audit_chain"],
        "online_url": absolute_url(reverse("registry:passport_detail", kwargs={"key": records["passport"]["key"]})),
    })
    return html_to_pdf(html, fetcher=fetcher)
