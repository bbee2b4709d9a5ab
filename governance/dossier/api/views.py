"""Auditor exports API: ``GET /passports/{passport_key}/dossier.pdf`` and ``.../evidence-pack.zip``.

The passport comes from ``registry.selectors.passport_get`` (404 for passports the user may not see); the export
services check the export permission (403) and append the audit event. Errors are JSON in the one error shape;
the files are binary responses of their own type.
"""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer

from core.api.permissions import Authenticated
from core.api.renderers import NO_FORMAT, PdfRenderer, ZipRenderer
from core.api.serializers import error_responses
from governance.dossier import services as evidence
from registry import selectors as registry_selectors
from registry.api.views import PASSPORT_KEY

ERRORS = error_responses(403, 404, media_type="application/json")
WHO = ("Auditors, risk officers, security reviewers and administrators (whoever may read the audit chain; "
       "`audit:read` scope for tokens); 403 for other users who see the passport, 404 where it is not visible.")








class _ExportView(GenericAPIView):
    permission_classes = [Authenticated]
    scope = "audit"
    filter_backends: list = []
    pagination_class = None

    def passport(self, passport_key: str):
        return registry_selectors.passport_get(user=self.request.user, key=passport_key)


class DossierView(_ExportView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        operation_id="passports_dossier_pdf",
        summary="Download a passport's auditor dossier (PDF)",
        description="Passport, every version's state, sign-offs with the digests they bind to and whether each "
        "still counts, OWASP checklists, the latest validation, findings, the passport's audit events and the "
        "verification of the whole audit chain. Every page footer carries the generation time and the sha256 of "
        "the records shown (`X-Records-SHA256`); `X-Dossier-SHA256` is the PDF's digest, recorded in the audit "
        "event `dossier.exported`. " + WHO,
        parameters=[PASSPORT_KEY, NO_FORMAT],
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The dossier."),
                   **ERRORS},
    )
    def get(self, request, passport_key: str):
        dossier = evidence.dossier_export(actor=request.user, passport=self.passport(passport_key))
        response = HttpResponse(dossier.content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{dossier.filename}"'
        response["X-Dossier-SHA256"], response["X-Records-SHA256"] = dossier.sha256, dossier.records_sha256
        return response


class EvidencePackView(_ExportView):
    renderer_classes = [JSONRenderer, ZipRenderer]

    @extend_schema(
        operation_id="passports_evidence_pack_zip",
        summary="Download a passport's evidence pack (ZIP)",
        description="A ZIP with the dossier PDF, every issued validation report file, the records as JSON, a "
        "manifest with the sha256 of every file and of every artifact and dataset, and the audit chain proof "
        "with `verify.py`, which recomputes it offline (see the pack's README.txt). `X-Evidence-Pack-SHA256` is "
        "the ZIP's digest, recorded in the audit event `evidence_pack.exported`. " + WHO,
        parameters=[PASSPORT_KEY, NO_FORMAT],
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The pack."),
                   **ERRORS},
    )
    def get(self, request, passport_key: str):
        pack = evidence.evidence_pack_export(actor=request.user, passport=self.passport(passport_key))
        response = FileResponse(pack.file, as_attachment=True, filename=pack.filename,
                                content_type="application/zip")
        response["Content-Length"] = str(pack.size)
        response["X-Evidence-Pack-SHA256"] = pack.sha256
        return response
