"""Finance API: a passport's ledger (entries, reversals, figures, business case, A/B results, export), every
visible entry, the CSV import and the portfolio (with exports).

Deny by default: ``Authenticated`` plus the ``finance`` token scope. Reads come from
``governance.ledger.selectors``, limited to ledgers the user may read, so any other passport's ledger is a 404
(also for users who see the passport but not its amounts). Each write validates types with an input serializer
and makes one ``governance.ledger.services`` call, which checks the grant on the business unit (403) and the
rules (400/409). Entries have no PUT, PATCH or DELETE (405): a correction is a reversal.
"""

from __future__ import annotations

from functools import cached_property

import django_filters
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.api.filters import SelectorFilterBackend, SelectorFilterMixin
from core.api.pagination import DefaultPagination
from core.api.parsers import JSONParser, MultiPartParser
from core.api.permissions import Authenticated
from core.api.renderers import FileRenderer
from core.api.serializers import error_responses
from core.api.serializers import validated as _validated
from governance.ledger import io as ledger_io
from governance.ledger import selectors as ledger_selectors
from governance.ledger import services
from governance.ledger.api.serializers import (
    AbBookedSerializer,
    AbCalculationSerializer,
    AbResultInputSerializer,
    BusinessCaseInputSerializer,
    BusinessCaseSerializer,
    EntryCreateSerializer,
    ImportInputSerializer,
    ImportResultSerializer,
    LedgerEntrySerializer,
    LedgerFiguresSerializer,
    PortfolioPageSerializer,
    ReverseSerializer,
    payback_data,
)
from governance.ledger.filtersets import (
    AllEntriesFilterSet,
    EntryFilterSet,
    ExportFilterSet,
    PortfolioFilterSet,
)
from governance.ledger.models import LedgerEntry
from registry.filtersets import IdFilter
from registry.models import ModelPassport

PASSPORT_KEY = OpenApiParameter("passport_key", str, OpenApiParameter.PATH, description="Passport key.")
ENTRY_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Ledger entry id.")
NO_FORMAT = OpenApiParameter("format", exclude=True)
FILE_FORMAT = OpenApiParameter("file_format", str, enum=["csv", "xlsx"], default="csv",
                               description="CSV (UTF-8) or Excel.")
READ_ERRORS = error_responses(403, 404)
WRITE_ERRORS = error_responses(400, 403, 404, 409)
FILE_RESPONSES = {(200, ledger_io.CSV_TYPE): OpenApiTypes.BINARY, (200, ledger_io.XLSX_TYPE): OpenApiTypes.BINARY,
                  **error_responses(400, 403, 404, media_type="application/json")}


def _query(filterset_class, request) -> dict:
    """A view's validated query parameters (400 on bad values)."""
    filterset = filterset_class(request.query_params, queryset=filterset_class._meta.model.objects.none(),
                                request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return {name: value for name, value in filterset.form.cleaned_data.items() if value not in (None, "")}


class CsvRenderer(FileRenderer):
    media_type = ledger_io.CSV_TYPE
    format = "csv"


class XlsxRenderer(FileRenderer):
    media_type = ledger_io.XLSX_TYPE
    format = "xlsx"


FILE_RENDERERS = [JSONRenderer, CsvRenderer, XlsxRenderer]


def file_response(header, rows, *, file_format: str, name: str) -> HttpResponse:
    if file_format == "xlsx":
        body, content_type, suffix = ledger_io.to_xlsx(header, rows, title=name), ledger_io.XLSX_TYPE, "xlsx"
    else:
        body, content_type, suffix = ledger_io.to_csv(header, rows), f"{ledger_io.CSV_TYPE}; charset=utf-8", "csv"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{suffix}"'
    return response


# --------------------------------------------------------------------------- query parameters
















def _params(filterset_class, *exclude: str) -> list[OpenApiParameter]:
    """Document a filterset's fields as query parameters (for views that are not list actions)."""
    out = []
    for name, flt in filterset_class.base_filters.items():
        if name in exclude:
            continue
        kind = {django_filters.BooleanFilter: bool, IdFilter: int}.get(type(flt), str)
        choices = [value for value, _ in flt.extra.get("choices", [])] or None
        out.append(OpenApiParameter(name, kind, OpenApiParameter.QUERY, enum=choices,
                                    description=str(flt.extra.get("help_text", "") or "")))
    return out


# --------------------------------------------------------------------------- one passport's ledger


class PassportLedgerMixin:
    """Resolves ``passport_key`` through the ledger selector after authentication and the scope check, before any
    input is read: a ledger the user may not read is a 404 for every action."""

    permission_classes = [Authenticated]
    scope = "finance"
    filter_backends: list = []

    @cached_property
    def passport(self) -> ModelPassport:
        return ledger_selectors.ledger_passport_get(user=self.request.user, key=self.kwargs["passport_key"])

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.passport  # noqa: B018


@extend_schema(parameters=[PASSPORT_KEY])
@extend_schema_view(
    list=extend_schema(summary="List a passport's ledger entries",
                       description="Newest period first; reversals and the entries they reverse both appear.",
                       responses={200: LedgerEntrySerializer(many=True), **error_responses(400, 403, 404)}),
    retrieve=extend_schema(summary="Get a ledger entry", parameters=[ENTRY_ID],
                           responses={200: LedgerEntrySerializer, **READ_ERRORS}),
)
class PassportEntryViewSet(PassportLedgerMixin, SelectorFilterMixin, mixins.ListModelMixin,
                           mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """``/passports/{passport_key}/ledger/entries/``: list, book, get, reverse. No PUT, PATCH or DELETE."""

    serializer_class = LedgerEntrySerializer
    parser_classes = [JSONParser, MultiPartParser]
    filter_backends = [SelectorFilterBackend]
    filterset_class = EntryFilterSet
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user, no passport
            return LedgerEntry.objects.none()
        return ledger_selectors.entry_list(user=self.request.user, passport=self.passport,
                                           filters=self.selector_filters())

    def get_object(self):
        pk = self.kwargs["pk"]
        if not str(pk).isdigit() or int(pk) > 2**63 - 1:
            raise ValidationError({"id": ["Not an id."]})
        return ledger_selectors.entry_get(user=self.request.user, pk=int(pk), passport=self.passport)

    @extend_schema(
        summary="Book a ledger entry",
        description="Finance users book for the business units they are granted (403 otherwise). The amount is "
        "a positive magnitude with at most as many decimals as its currency has minor units; the category gives "
        "the sign. The rate to the base currency is captured now and `amount_base` rounded half-even once. "
        "JSON, or multipart with an `evidence_file`. Appends a `ledger.entry_booked` audit event.",
        request={"application/json": EntryCreateSerializer, "multipart/form-data": EntryCreateSerializer},
        responses={201: LedgerEntrySerializer, **WRITE_ERRORS},
    )
    def create(self, request, passport_key=None):
        data = _validated(EntryCreateSerializer, request.data)
        number = data.pop("version", None)
        version = None
        if number is not None:
            version = self.passport.versions.filter(number=number).first()
            if version is None:
                raise ValidationError({"version": [f"No version {number} in this passport."]})
        entry = services.ledger_entry_book(actor=request.user, passport=self.passport, version=version, **data)
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Reverse a ledger entry",
        description="Books the exact negation of the entry (same period, category, currency and rate) pointing "
        "at it; both stay on the ledger and net to zero. An entry is reversed at most once (409); a reversal "
        "cannot be reversed (400). Appends a `ledger.entry_reversed` audit event.",
        parameters=[ENTRY_ID],
        request=ReverseSerializer,
        responses={201: LedgerEntrySerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def reverse(self, request, passport_key=None, pk=None):
        entry = self.get_object()
        reason = _validated(ReverseSerializer, request.data)["reason"]
        reversal = services.ledger_entry_reverse(actor=request.user, entry=entry, reason=reason)
        reversal = ledger_selectors.entry_get(user=request.user, pk=reversal.pk, passport=self.passport)
        return Response(self.get_serializer(reversal).data, status=status.HTTP_201_CREATED)


class LedgerFiguresView(PassportLedgerMixin, GenericAPIView):
    pagination_class = None
    serializer_class = LedgerFiguresSerializer

    @extend_schema(
        summary="Get a passport's ledger figures",
        description="Cumulative net P&L, ROI (net / costs), payback (fractional years, and years + months), "
        "NPV at the business case's discount rate (end-of-year discounting, year 0 undiscounted), cost per "
        "1000 inferences, and plan vs actual per business-case year with variance. In the base currency; "
        "costs are positive magnitudes here.",
        parameters=[PASSPORT_KEY],
        responses={200: LedgerFiguresSerializer, **READ_ERRORS},
    )
    def get(self, request, passport_key=None):
        figures = ledger_selectors.ledger_figures(passport=self.passport)
        figures["passport"] = self.passport.key
        figures["base_currency"] = figures["base_currency"] or services.base_currency()
        figures["payback"] = payback_data(figures.pop("payback_years"))
        if figures["plan"]:
            figures["plan"]["payback"] = payback_data(figures["plan"].pop("payback_years"))
        return Response(LedgerFiguresSerializer(figures).data)


class LedgerExportView(PassportLedgerMixin, GenericAPIView):
    pagination_class = None
    renderer_classes = FILE_RENDERERS

    @extend_schema(
        summary="Export a passport's ledger",
        description="Every entry (filters as in the list) as CSV or Excel. Text cells that begin with =, +, -, @ "
        "or a tab are prefixed with a single quote, so no spreadsheet runs them as formulas.",
        parameters=[PASSPORT_KEY, FILE_FORMAT, NO_FORMAT, *_params(EntryFilterSet)],
        responses=FILE_RESPONSES,
    )
    def get(self, request, passport_key=None):
        fmt = _query(ExportFilterSet, request).get("file_format", "csv")
        entries = ledger_selectors.entry_list(user=request.user, passport=self.passport,
                                              filters=_query(EntryFilterSet, request))
        return file_response(ledger_io.ENTRY_HEADER, ledger_io.entry_rows(entries.iterator(chunk_size=2000)),
                             file_format=fmt, name=f"ledger-{self.passport.key}")


class BusinessCaseView(PassportLedgerMixin, GenericAPIView):
    pagination_class = None
    parser_classes = [JSONParser]
    serializer_class = BusinessCaseSerializer

    @extend_schema(summary="Get a passport's business case", parameters=[PASSPORT_KEY],
                   description="404 when the passport has none (or its ledger is not visible).",
                   responses={200: BusinessCaseSerializer, **READ_ERRORS})
    def get(self, request, passport_key=None):
        case = ledger_selectors.business_case_get(passport=self.passport)
        if case is None:
            raise Http404("This passport has no business case.")
        return Response(BusinessCaseSerializer(case).data)

    @extend_schema(
        summary="Set a passport's business case",
        description="Creates or replaces the plan as a whole: planned amounts per year (0 is the initial "
        "investment, 1 is `first_year`) and category, a discount rate and a horizon. Finance of the passport's "
        "business unit only. The previous plan is kept in the `ledger.business_case_set` audit event.",
        parameters=[PASSPORT_KEY], request=BusinessCaseInputSerializer,
        responses={200: BusinessCaseSerializer, **error_responses(400, 403, 404)},
    )
    def put(self, request, passport_key=None):
        data = _validated(BusinessCaseInputSerializer, request.data)
        lines = [services.PlanInput(**line) for line in data.pop("lines")]
        case = services.business_case_set(actor=request.user, passport=self.passport, lines=lines, **data)
        return Response(BusinessCaseSerializer(ledger_selectors.business_case_get(passport=case.passport)).data)


def _ab_result(data: dict) -> services.AbResult:
    return services.AbResult(**{name: data[name] for name in (
        "experiment", "uplift", "ci_low", "ci_high", "volume", "period_from", "period_to", "currency",
        "confidence", "value_per_unit", "category", "fx_rate_to_base") if name in data})


class AbPreviewView(PassportLedgerMixin, GenericAPIView):
    pagination_class = None
    parser_classes = [JSONParser]
    serializer_class = AbCalculationSerializer

    @extend_schema(
        summary="Preview an A/B experiment's benefit",
        description="The calculation the booking would make (uplift x volume x value per unit, the interval's "
        "bounds, the split over the months covered), without booking anything.",
        parameters=[PASSPORT_KEY], request=AbResultInputSerializer,
        responses={200: AbCalculationSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request, passport_key=None):
        result = _ab_result(_validated(AbResultInputSerializer, request.data))
        calculation = services.ab_result_preview(actor=request.user, passport=self.passport, result=result)
        return Response(AbCalculationSerializer(calculation).data)


class AbBookView(PassportLedgerMixin, GenericAPIView):
    pagination_class = None
    parser_classes = [JSONParser]
    serializer_class = AbBookedSerializer

    @extend_schema(
        summary="Book an A/B experiment's benefit",
        description="Books the point estimate as benefit entries (source `ab_experiment`), one per month "
        "covered, each with the calculation and the confidence interval as evidence. Refused (400, "
        "`not_significant`) while the interval includes no effect.",
        parameters=[PASSPORT_KEY], request=AbResultInputSerializer,
        responses={201: AbBookedSerializer, **WRITE_ERRORS},
    )
    def post(self, request, passport_key=None):
        data = _validated(AbResultInputSerializer, request.data)
        version = None
        if (number := data.get("version")) is not None:
            version = self.passport.versions.filter(number=number).first()
            if version is None:
                raise ValidationError({"version": [f"No version {number} in this passport."]})
        result = _ab_result(data)
        entries = services.ab_result_book(actor=request.user, passport=self.passport, result=result,
                                          version=version, evidence_url=data.get("evidence_url", ""))
        calculation = services.ab_result_calculate(result)
        rows = ledger_selectors.entry_list(user=request.user, passport=self.passport).filter(
            pk__in=[e.pk for e in entries]).order_by("period", "pk")
        return Response(AbBookedSerializer({"calculation": calculation, "entries": rows}).data,
                        status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------- across passports


@extend_schema_view(
    list=extend_schema(summary="List ledger entries of every visible passport",
                       description="Newest period first; only ledgers the user may read (auditors: all).",
                       responses={200: LedgerEntrySerializer(many=True), **error_responses(400, 403, 404)}),
)
class EntryViewSet(SelectorFilterMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [Authenticated]
    scope = "finance"
    serializer_class = LedgerEntrySerializer
    filter_backends = [SelectorFilterBackend]
    filterset_class = AllEntriesFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        return ledger_selectors.entry_list(user=self.request.user, filters=self.selector_filters())

    @extend_schema(
        summary="Export ledger entries of every visible passport",
        description="CSV or Excel; filters as in the list. Text cells that could run as formulas are neutralised "
        "with a leading single quote.",
        parameters=[FILE_FORMAT, NO_FORMAT, *_params(AllEntriesFilterSet)],
        filters=False, responses=FILE_RESPONSES,
    )
    @action(detail=False, methods=["get"], renderer_classes=FILE_RENDERERS, pagination_class=None)
    def export(self, request):
        fmt = _query(ExportFilterSet, request).get("file_format", "csv")
        entries = ledger_selectors.entry_list(user=request.user, filters=_query(AllEntriesFilterSet, request))
        return file_response(ledger_io.ENTRY_HEADER, ledger_io.entry_rows(entries.iterator(chunk_size=2000)),
                             file_format=fmt, name="ledger")


class ImportView(GenericAPIView):
    permission_classes = [Authenticated]
    scope = "finance"
    filter_backends: list = []
    pagination_class = None
    parser_classes = [MultiPartParser]
    serializer_class = ImportResultSerializer

    @extend_schema(
        summary="Import ledger entries from CSV",
        description="Checks every row (format, passport, category, currency and its decimals, rate, period, "
        "and the user's grant on each passport's business unit). With `dry_run` (the default) or any bad row, "
        "books nothing and reports every problem with its line; otherwise books all rows in one transaction "
        "(source `import`, one audit event each). A file that cannot be read at all is a 400.",
        request={"multipart/form-data": ImportInputSerializer},
        responses={200: ImportResultSerializer, 201: ImportResultSerializer, **error_responses(400, 403)},
    )
    def post(self, request):
        data = _validated(ImportInputSerializer, request.data)
        result = ledger_io.import_entries(actor=request.user, upload=data["file"], dry_run=data["dry_run"])
        body = {
            "dry_run": result.dry_run, "ok": result.ok, "rows": result.rows, "booked": len(result.booked),
            "sha256": result.sha256, "errors": [e.as_dict() for e in result.errors], "totals": result.totals(),
            "preview": [d.entry for d in result.drafts] if result.ok else [],
            "entry_ids": [e.pk for e in result.booked],
        }
        code = status.HTTP_201_CREATED if result.booked else status.HTTP_200_OK
        return Response(ImportResultSerializer(body).data, status=code)


PORTFOLIO_PARAMS = [*_params(PortfolioFilterSet, "file_format")]


class PortfolioView(GenericAPIView):
    permission_classes = [Authenticated]
    scope = "finance"
    filter_backends: list = []
    pagination_class = DefaultPagination
    serializer_class = PortfolioPageSerializer

    @extend_schema(
        summary="Get the finance portfolio",
        description="Every passport whose ledger the user may read, with benefits, costs, net P&L, ROI, payback, "
        "plan variance to date and risk tier, sortable and filterable; `totals` covers every passport that "
        "matches the filters (not only the page). Sums run in the database over the stored base amounts.",
        parameters=[*PORTFOLIO_PARAMS,
                    OpenApiParameter("page", int, OpenApiParameter.QUERY, description="Page number."),
                    OpenApiParameter("page_size", int, OpenApiParameter.QUERY, description="Rows per page, <= 200.")],
        responses={200: PortfolioPageSerializer, **error_responses(400, 403, 404)},
    )
    def get(self, request):
        params = _query(PortfolioFilterSet, request)
        ordering = params.pop("ordering", "key")
        params.pop("file_format", None)
        portfolio = ledger_selectors.portfolio_list(user=request.user, filters=params, ordering=ordering)
        page = ledger_selectors.portfolio_page(self.paginate_queryset(portfolio))
        paginator = self.paginator
        body = {"count": paginator.page.paginator.count, "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(), "base_currency": services.base_currency(),
                "totals": ledger_selectors.portfolio_totals(user=request.user, filters=params), "results": page}
        return Response(PortfolioPageSerializer(body).data)


class PortfolioExportView(GenericAPIView):
    permission_classes = [Authenticated]
    scope = "finance"
    filter_backends: list = []
    pagination_class = None
    renderer_classes = FILE_RENDERERS

    @extend_schema(
        summary="Export the finance portfolio",
        description="Every row of the portfolio (filters and ordering as there) as CSV or Excel, text cells "
        "neutralised against formulas.",
        parameters=[*PORTFOLIO_PARAMS, NO_FORMAT, FILE_FORMAT], responses=FILE_RESPONSES,
    )
    def get(self, request):
        params = _query(PortfolioFilterSet, request)
        fmt = params.pop("file_format", "csv")
        ordering = params.pop("ordering", "key")
        rows = ledger_selectors.portfolio_page(list(ledger_selectors.portfolio_list(
            user=request.user, filters=params, ordering=ordering)))
        return file_response(ledger_io.PORTFOLIO_HEADER, ledger_io.portfolio_rows(rows), file_format=fmt,
                             name="portfolio")

