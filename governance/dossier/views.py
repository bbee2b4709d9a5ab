"""Auditor exports in the UI: the dossier PDF and the evidence pack of a passport, from its page, prepared as
background jobs (``governance.dossier.jobs``); the direct downloads stay for scripts and links.

Thin views: the passport comes from the registry selector (an invisible passport is a 404), the export service
checks who may export (403 for users who see the passport but may not read the audit chain) and records it.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from core import errors
from governance.dossier import jobs
from governance.dossier import services as evidence
from governance.jobs import services as job_services
from registry import selectors as registry_selectors


def _export(request, key: str, export):
    passport = registry_selectors.passport_get(user=request.user, key=key)
    try:
        return export(actor=request.user, passport=passport)
    except errors.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc


@never_cache
@login_required
@require_GET
def passport_dossier(request, key: str):
    """The passport's auditor dossier as a PDF attachment; ``X-Records-SHA256`` names the records it shows."""
    dossier = _export(request, key, evidence.dossier_export)
    response = HttpResponse(dossier.content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{dossier.filename}"'
    response["X-Dossier-SHA256"], response["X-Records-SHA256"] = dossier.sha256, dossier.records_sha256
    return response


@never_cache
@login_required
@require_GET
def passport_evidence_pack(request, key: str):
    """The passport's evidence pack (ZIP), streamed from a temporary file; ``X-Evidence-Pack-SHA256`` is the
    digest recorded in the ``evidence_pack.exported`` audit event."""
    pack = _export(request, key, evidence.evidence_pack_export)
    response = FileResponse(pack.file, as_attachment=True, filename=pack.filename, content_type="application/zip")
    response["Content-Length"] = str(pack.size)
    response["X-Evidence-Pack-SHA256"] = pack.sha256
    return response


def _prepare(request, key: str, kind: str):
    """Start the export as a background job and show its page (progress, then the download)."""
    passport = registry_selectors.passport_get(user=request.user, key=key)
    try:
        job = job_services.job_start(actor=request.user, kind=kind, params={"passport": passport.key},
                                     back_url=jobs.back_url(passport.key))
    except errors.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    return redirect("governance:job_detail", pk=job.pk)


@login_required
@require_POST
def passport_dossier_prepare(request, key: str):
    return _prepare(request, key, jobs.DOSSIER)


@login_required
@require_POST
def passport_evidence_pack_prepare(request, key: str):
    return _prepare(request, key, jobs.EVIDENCE_PACK)
