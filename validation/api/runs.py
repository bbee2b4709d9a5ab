"""Validation-run API under ``/api/v1/validation/runs/``: start a run, list and read runs (state, step, progress,
what reproduces them, a per-test summary), read a run's full results, cancel it.

Runs come from ``validation.selectors`` (a run on a passport the user may not see is a 404, like a missing one); the
version and datasets named in a start request are looked up through ``registry.selectors`` the same way. Each verb
makes one ``validation.services`` call, which decides who may act (403) and what is refused (400/409).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.filters import SelectorFilterBackend, SelectorFilterMixin
from core.api.parsers import JSONParser
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.errors import Conflict, DomainError
from registry import selectors as registry_selectors
from validation import selectors, services
from validation.api.serializers import (
    RunCreateSerializer,
    RunListSerializer,
    RunResultsSerializer,
    RunSerializer,
    explainability_of,
)
from validation.choices import RunState
from validation.filtersets import RunFilterSet
from validation.models import ValidationRun

RUN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Validation run id.")




def _dataset(user, passport, pk: int, field: str):
    dataset = registry_selectors.dataset_list(user=user, passport=passport).filter(pk=pk).first()
    if dataset is None:
        raise DomainError(_("No dataset #%(pk)s on passport %(key)s.") % {"pk": pk, "key": passport.key},
                          code="not_found", field=field)
    return dataset


def _champion(user, version, number: int | None):
    if number is None:
        return None
    champion = registry_selectors.version_list(user=user, passport=version.passport).filter(number=number).first()
    if champion is None:
        raise DomainError(_("Passport %(key)s has no version %(n)s.") % {"key": version.passport.key, "n": number},
                          code="not_found",
                          field="champion")
    return champion


@extend_schema_view(
    list=extend_schema(
        summary="List validation runs",
        description="Runs on every passport the user may see, newest first, without their results.",
        responses={200: RunListSerializer(many=True), **error_responses(400, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Get a validation run",
        description="State, step and progress while it runs; attempts, worker, failure reason; what reproduces "
        "it (seed, digests, package versions, duration); its outcome and a summary of every test.",
        parameters=[RUN_ID],
        responses={200: RunSerializer, **error_responses(403, 404)},
    ),
)
class ValidationRunViewSet(SelectorFilterMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           viewsets.GenericViewSet):
    """Validation runs of versions in validation."""

    permission_classes = [Authenticated]
    scope = "governance"
    serializer_class = RunSerializer
    parser_classes = [JSONParser]
    filter_backends = [SelectorFilterBackend]
    filterset_class = RunFilterSet
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return ValidationRun.objects.none()
        return selectors.run_list(user=self.request.user, filters=self.selector_filters())

    def get_serializer_class(self):
        return RunListSerializer if self.action == "list" else RunSerializer

    def get_object(self) -> ValidationRun:
        # The selector decides visibility and loads the results (the list defers them).
        return selectors.run_get(user=self.request.user, pk=int(self.kwargs["pk"]))

    @extend_schema(
        summary="Start a validation run",
        description="An assigned validator queues a run of a version in validation on a reference and a "
        "validation dataset of its passport. Refused, with nothing stored, when a dataset lacks a column the run "
        "needs (400 `missing_column`, naming it), a dataset belongs elsewhere, or the version is not in "
        "validation (400 `invalid_state`); 409 `run_active` when the same run is already queued or running. "
        "A version the user may not see is a 404. Audit event `validation_run.queued`.",
        request=RunCreateSerializer,
        responses={201: RunSerializer, **error_responses(400, 403, 404, 409)},
    )
    def create(self, request):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = registry_selectors.version_get(user=request.user, passport_key=data["passport"],
                                                 number=data["version"])
        passport = version.passport
        run = services.run_start(
            actor=request.user, version=version,
            reference=_dataset(request.user, passport, data["reference"], "reference"),
            validation=_dataset(request.user, passport, data["validation"], "validation"),
            target=data["target"], segment_column=data.get("segment_column") or "",
            champion=_champion(request.user, version, data.get("champion")))
        run = selectors.run_get(user=request.user, pk=run.pk)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Get a validation run's results",
        description="The full results of a succeeded run: every test with its metrics, thresholds and chart "
        "data, and the explainability lifted out: mean |SHAP| per feature, the algorithm that ran (interventional "
        "or path-dependent TreeSHAP, or model-agnostic) on which data, and per-row SHAP values of a sample. "
        "409 `no_results` while the run is queued or running, or when it failed or was cancelled.",
        parameters=[RUN_ID],
        responses={200: RunResultsSerializer, **error_responses(403, 404, 409)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def results(self, request, pk=None):
        run = self.get_object()
        if run.state != RunState.SUCCEEDED:
            reason = f" ({run.failure_reason})" if run.failure_reason else ""
            raise Conflict(_("Run #%(pk)s is %(state)s%(reason)s; only a succeeded run has results.")
                           % {"pk": run.pk, "state": run.get_state_display().lower(), "reason": reason},
                           code="no_results", details={"state": run.state})
        data = {"id": run.pk, "state": run.state, "outcome": run.outcome, "digests": run.digests,
                "explainability": explainability_of(run.results), "results": run.results}
        return Response(RunResultsSerializer(data).data)

    @extend_schema(
        summary="Cancel a validation run",
        description="An assigned validator cancels a queued or running run; a running attempt stops at its next "
        "step and writes nothing. 409 `illegal_transition` once the run has ended. Audit event "
        "`validation_run.cancelled`.",
        parameters=[RUN_ID],
        request=None,
        responses={200: RunSerializer, **error_responses(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def cancel(self, request, pk=None):
        run = self.get_object()
        services.run_cancel(actor=request.user, run=run)
        return Response(RunSerializer(selectors.run_get(user=request.user, pk=run.pk)).data)

