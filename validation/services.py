"""Validation writes. For now: an assigned validator issues a report document they prepared; validation runs
(a later capability) will issue generated reports through the same record."""

from __future__ import annotations

from django.db import transaction

from governance.errors import DomainError, PermissionDenied, validate_model
from governance.services.audit import audit_append
from registry.choices import VersionState
from registry.models import ModelVersion
from registry.storage import staged_upload, store_staged

from .models import ValidationReport

MAX_REPORT_BYTES = 100 * 1024 * 1024
ALLOWED_SUFFIXES = (".pdf", ".html", ".htm", ".md", ".txt", ".docx", ".xlsx", ".zip")


def report_issue_uploaded(*, actor, version, upload, conclusion: str) -> ValidationReport:
    """Freeze an uploaded report for a version in validation; its sha256 is what sign-offs bind to."""
    from governance.services.workflow import is_assigned

    version = ModelVersion.objects.select_related("passport").get(pk=version.pk)  # the state now, not the caller's
    if not is_assigned(actor, version):
        raise PermissionDenied("Only a validator assigned to this version may issue its validation report.")
    if version.state not in (VersionState.IN_VALIDATION, VersionState.VALIDATED):
        raise DomainError(f"Reports are issued for versions in validation; v{version.number} is {version.state}.",
                          code="invalid_state")
    filename = (getattr(upload, "name", "") or "report").rsplit("/", 1)[-1][:200]
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise DomainError(f"Report files must be one of: {', '.join(ALLOWED_SUFFIXES)}.", code="invalid_file",
                          field="file")
    if not (conclusion or "").strip():
        raise DomainError("A report needs the validator's conclusion.", code="required", field="conclusion")
    with staged_upload(upload, max_bytes=MAX_REPORT_BYTES) as staged:
        stored, created = store_staged(
            staged, f"reports/{version.passport.key}/v{version.number}/{staged.sha256}-{filename}")
    try:
        return _report_insert(actor=actor, version=version, stored=stored, staged=staged, filename=filename,
                              conclusion=conclusion.strip())
    except Exception:
        if created:
            from django.core.files.storage import default_storage

            default_storage.delete(stored)
        raise


@transaction.atomic
def _report_insert(*, actor, version, stored, staged, filename, conclusion) -> ValidationReport:
    from governance.services.workflow import lock_version

    version = lock_version(version)
    if version.state not in (VersionState.IN_VALIDATION, VersionState.VALIDATED):
        raise DomainError(f"v{version.number} left validation while the report was uploading.", code="invalid_state")
    report = ValidationReport(version=version, source=ValidationReport.Source.UPLOADED, filename=filename,
                              sha256=staged.sha256, size=staged.size, conclusion=conclusion, issued_by=actor)
    report.file.name = stored
    validate_model(report)
    report.save()
    audit_append(actor=actor, action="report.issued", obj=report, passport_key=version.passport.key,
                 digests={"report_sha256": report.sha256, "artifact_sha256": version.sha256},
                 data={"version": version.number, "filename": filename})
    return report
