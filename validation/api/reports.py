"""Validation report API under ``/api/v1/validation/``: issue the frozen report of a succeeded run, read a report's
record, fetch its HTML document and its PDF.

Reports and runs come from ``validation.selectors`` (invisible = 404); issuing is one ``validation.services``
call, which decides who may issue (403) and what is refused (400/409).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.api.parsers import JSONParser
from core.api.permissions import Authenticated
from core.api.renderers import NO_FORMAT, FileRenderer, PdfRenderer
from core.api.serializers import error_responses
from validation import selectors, services
from validation.choices import Rating
from validation.models import ValidationReport

REPORT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Validation report id.")
RUN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Validation run id.")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self'; frame-ancestors 'self'")


class HtmlRenderer(FileRenderer):
    media_type = "text/html"
    format = "html"


class ReportConditionSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000)
    due_date = serializers.DateField()


class ReportIssueSerializer(serializers.Serializer):
    conclusion = serializers.CharField(max_length=20000, help_text="The validator's conclusion.")
    rating = serializers.ChoiceField(choices=Rating.choices, help_text="The validator's rating of the model.")
    conditions = ReportConditionSerializer(many=True, required=False, default=list,
                                     help_text="Required for `fit_with_conditions` (each becomes a dated finding "
                                               "owned by the technical owner); none for the other ratings.")
    language = serializers.ChoiceField(choices=[code for code, _name in settings.LANGUAGES], required=False,
                                       help_text="The language the report is written in (recorded with it); by "
                                       "default the caller's (`Accept-Language`).")
    exceptions = serializers.DictField(
        child=serializers.CharField(max_length=5000), required=False, default=dict,
        help_text="{test: justification} for each test the tier policy requires that the run skipped (at least 20 "
                  "characters each). Without one, the report is refused with `required_test_skipped`, whose "
                  "`details.skipped` names the tests.")


class ValidationReportSerializer(serializers.ModelSerializer):
    passport = serializers.CharField(source="version.passport.key", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    run = serializers.IntegerField(source="run_id", read_only=True, allow_null=True)
    issued_by = serializers.CharField(source="issued_by.username", read_only=True)
    html_url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = ValidationReport
        fields = ["id", "passport", "version", "source", "run", "filename", "sha256", "size", "pdf_sha256",
                  "conclusion", "rating", "conditions", "language", "exceptions", "issued_by", "issued_at", "html_url",
                  "pdf_url"]

    def get_html_url(self, report) -> str | None:
        if report.source != ValidationReport.Source.GENERATED:
            return None
        return reverse("validation-api:report-html", args=[report.pk])

    def get_pdf_url(self, report) -> str | None:
        return reverse("validation-api:report-pdf", args=[report.pk]) if report.pdf_file else None


class _ReportView(GenericAPIView):
    permission_classes = [Authenticated]
    scope = "governance"
    filter_backends: list = []
    pagination_class = None
    serializer_class = ValidationReportSerializer

    def report(self, pk: int) -> ValidationReport:
        return selectors.report_get(user=self.request.user, pk=int(pk))


class ReportIssueView(_ReportView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="validation_runs_report_create",
        summary="Issue the validation report of a run",
        description="The assigned validator freezes the report of a succeeded run with a conclusion: the HTML "
        "document (its sha256 is the report digest sign-offs bind to) and a PDF with that digest in every page "
        "footer. 409 `run_not_succeeded` for a run that has not succeeded, `invalid_state` when the version is not "
        "in validation; 400 `required_test_skipped` when the run skipped a test its tier policy requires and no "
        "justified exception is given for it; 403 for anyone but an assigned validator. Audit event `report.issued`.",
        parameters=[RUN_ID, NO_FORMAT],
        request=ReportIssueSerializer,
        responses={201: ValidationReportSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request, pk: int):
        serializer = ReportIssueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = selectors.run_get(user=request.user, pk=int(pk))
        data = serializer.validated_data
        report = services.report_issue_generated(
            actor=request.user, run=run, conclusion=data["conclusion"], exceptions=data.get("exceptions") or {},
            rating=data["rating"], conditions=[{"text": c["text"], "due_date": c["due_date"].isoformat()}
                                               for c in data.get("conditions") or []],
            language=data.get("language"))
        return Response(ValidationReportSerializer(self.report(report.pk)).data, status=status.HTTP_201_CREATED)


class ReportDetailView(_ReportView):
    @extend_schema(operation_id="validation_reports_retrieve", summary="Get a validation report's record",
                   parameters=[REPORT_ID, NO_FORMAT],
                   responses={200: ValidationReportSerializer, **error_responses(403, 404)})
    def get(self, request, pk: int):
        return Response(ValidationReportSerializer(self.report(pk)).data)


def file_response(field, content_type: str, filename: str, *, inline: bool = True) -> HttpResponse:
    with field.open("rb") as handle:
        response = HttpResponse(handle.read(), content_type=content_type)
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class ReportHtmlView(_ReportView):
    renderer_classes = [JSONRenderer, HtmlRenderer]

    @extend_schema(
        operation_id="validation_reports_html", summary="Fetch a generated report's HTML document",
        description="The frozen document exactly as issued (its sha256 is the report's `sha256`), served with a "
        "Content-Security-Policy that allows only this site's scripts. 404 for uploaded reports.",
        parameters=[REPORT_ID, NO_FORMAT],
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.BINARY, description="The report."),
                   **error_responses(403, 404, media_type="application/json")},
    )
    def get(self, request, pk: int):
        report = self.report(pk)
        if report.source != ValidationReport.Source.GENERATED:
            from django.http import Http404

            raise Http404("This report was uploaded; download it from the version's reports.")
        response = file_response(report.file, "text/html; charset=utf-8", report.filename)
        response["Content-Security-Policy"] = CSP
        response["X-Report-SHA256"] = report.sha256
        return response


class ReportPdfView(_ReportView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        operation_id="validation_reports_pdf", summary="Fetch a generated report's PDF",
        description="The PDF rendered when the report was issued; every page footer carries the report's sha256. "
        "404 for uploaded reports.",
        parameters=[REPORT_ID, NO_FORMAT],
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The report."),
                   **error_responses(403, 404, media_type="application/json")},
    )
    def get(self, request, pk: int):
        report = self.report(pk)
        if not report.pdf_file:
            from django.http import Http404

            raise Http404("This report has no PDF.")
        response = file_response(report.pdf_file, "application/pdf", report.filename.rsplit(".", 1)[0] + ".pdf")
        response["X-Report-SHA256"], response["X-PDF-SHA256"] = report.sha256, report.pdf_sha256
        return response
