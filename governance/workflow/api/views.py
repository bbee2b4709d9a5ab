"""Approval-workflow API: the review of a version and one POST action per workflow verb, findings, tier policies,
the user's inbox and the portfolio summary.

Versions come from ``registry.selectors.version_get``, findings from a query limited to visible passports, so
anything the user may not see is a 404. Each verb validates types with an input serializer, makes one
``governance.services`` (or ``validation.services``) call, which checks permissions (403), segregation of
duties and the transition map (400/403/409), and renders the result with an output serializer.
"""

from __future__ import annotations

import json
from functools import cached_property

from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from core.api.filters import SelectorFilterBackend, SelectorFilterMixin
from core.api.parsers import JSONParser, MultiPartParser
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.api.serializers import validated as _validated
from governance.workflow import selectors
from governance.workflow.api.serializers import (
    AssignmentSerializer,
    AssignSerializer,
    ChecklistAnswerSerializer,
    ChecklistSerializer,
    FindingCreateSerializer,
    FindingSerializer,
    FindingStatusChangeSerializer,
    InboxSerializer,
    PolicySerializer,
    PolicyUpdateSerializer,
    PortfolioSerializer,
    ReasonSerializer,
    ReportSerializer,
    ReportUploadSerializer,
    RequiredReasonSerializer,
    ReviewSerializer,
    SignOffCreateSerializer,
    SignOffSerializer,
    TestAcceptanceSerializer,
    TestAcceptSerializer,
    TestToAcceptSerializer,
)
from governance.workflow.choices import FindingSeverity
from governance.workflow.filtersets import FindingFilterSet
from governance.workflow.models import Finding, RiskTierPolicy
from governance.workflow.services import findings as finding_services
from governance.workflow.services import policies
from governance.workflow.services import signoffs as signoff_services
from governance.workflow.services import transitions as workflow
from registry import selectors as registry_selectors
from registry.api.serializers import VersionSerializer
from registry.api.views import PASSPORT_KEY, VERSION_NUMBER
from registry.models import ModelVersion
from validation import services as validation_services
from validation.choices import Rating
from validation.models import ValidationReport

REPORT_ID = OpenApiParameter("report_id", int, OpenApiParameter.PATH, description="Report id.")
CHECKLIST_CODE = OpenApiParameter("code", str, OpenApiParameter.PATH, description="OWASP item code, ML01..ML10.")
FINDING_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Finding id.")
POLICY_TIER = OpenApiParameter("tier", int, OpenApiParameter.PATH, description="Risk tier, 1..3.")
NO_FORMAT = OpenApiParameter("format", exclude=True)

VERB_ERRORS = error_responses(400, 403, 404, 409)
READ_ERRORS = error_responses(403, 404)


class BinaryRenderer(BaseRenderer):
    """Lets clients ask for ``application/octet-stream``; the file itself is a FileResponse."""

    media_type = "application/octet-stream"
    format = "bin"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


# --------------------------------------------------------------------------- one version's review


class ReauthThrottle(UserRateThrottle):
    """Sign-off attempts (each one re-authenticates with a password) per user."""

    scope = "reauth"


@extend_schema(parameters=[PASSPORT_KEY, VERSION_NUMBER])
class VersionWorkflowViewSet(viewsets.GenericViewSet):
    """``/passports/{passport_key}/versions/{number}/<verb>/``: the review of a version and its workflow verbs."""

    permission_classes = [Authenticated]
    scope = "governance"
    parser_classes = [JSONParser]
    filter_backends: list = []
    pagination_class = None
    lookup_field = "number"
    lookup_value_regex = "[0-9]+"

    @cached_property
    def version(self) -> ModelVersion:
        return registry_selectors.version_get(user=self.request.user, passport_key=self.kwargs["passport_key"],
                                              number=self.kwargs["number"])

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # After authentication and scope checks, before any input is read: a version the user may not see
        # is a 404 for every action, never a validation error that would reveal it exists.
        self.version  # noqa: B018

    def get_queryset(self):
        return ModelVersion.objects.none()  # every action works on self.version; this only serves the schema

    def get_throttles(self):
        # A stolen token must not be able to guess a signer's password at the ordinary API rate.
        throttles = super().get_throttles()
        return [*throttles, ReauthThrottle()] if self.action == "signoff_record" else throttles

    def _version_out(self, version: ModelVersion) -> Response:
        return Response(VersionSerializer(version, context=self.get_serializer_context()).data)

    # ---- reads

    @extend_schema(
        summary="Get a version's review",
        description="State, the policy in force, required and missing sign-off roles, current and stale "
        "sign-offs, blocking findings, missing checklist items, assignments, the current digests, and the "
        "workflow verbs the requesting user may use now.",
        responses={200: ReviewSerializer, **READ_ERRORS},
    )
    @action(detail=True, methods=["get"])
    def review(self, request, passport_key=None, number=None):
        version = self.version
        review = getattr(version, "review", None)  # none before submission
        status_ = signoff_services.signoff_status(version)
        digests = signoff_services.current_digests(version)
        data = {
            "passport": version.passport.key, "number": version.number, "state": version.state,
            "approval_expires_at": version.approval_expires_at, "policy": review.policy if review else None,
            "required_roles": status_.required, "missing_roles": status_.missing,
            "current_signoffs": list(status_.current.values()), "stale_signoffs": status_.stale,
            "blocking_findings": status_.blocking_findings, "checklist_missing": status_.checklist_missing,
            "assignments": version.assignments.select_related("validator", "assigned_by", "version__passport"),
            "digests": digests, "available_actions": sorted(selectors.available_actions(request.user, version)),
            "signable_roles": selectors.eligible_signoff_roles(request.user, version),
        }
        return Response(ReviewSerializer(data, context={**self.get_serializer_context(), "digests": digests}).data)

    @extend_schema(
        summary="List a version's validation reports",
        description="Newest first; the first is the report in force, the one sign-offs bind to.",
        responses={200: ReportSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"])
    def reports(self, request, passport_key=None, number=None):
        reports = list(self._reports())
        context = {**self.get_serializer_context(), "in_force_id": reports[0].pk if reports else None}
        return Response(ReportSerializer(reports, many=True, context=context).data)

    def _reports(self) -> QuerySet[ValidationReport]:
        return self.version.reports.select_related("issued_by", "version__passport").order_by("-issued_at", "-pk")

    @extend_schema(
        summary="Download a validation report",
        description="Streams the report file as an attachment; the `X-Report-SHA256` header carries its digest.",
        parameters=[REPORT_ID, NO_FORMAT],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   **error_responses(403, 404, media_type="application/json")},
    )
    @action(detail=True, methods=["get"], url_path=r"reports/(?P<report_id>[0-9]+)/file",
            renderer_classes=[JSONRenderer, BinaryRenderer])
    def report_file(self, request, passport_key=None, number=None, report_id=None):
        report = self._reports().filter(pk=report_id).first()
        if report is None:
            raise NotFound("No such report of this version.")
        # Always an attachment of an opaque type: an uploaded HTML report must never render in the API's origin.
        response = FileResponse(report.file.open("rb"), as_attachment=True, filename=report.filename,
                                content_type="application/octet-stream")
        response["X-Report-SHA256"] = report.sha256
        return response

    @extend_schema(
        summary="List a version's sign-offs",
        description="Every sign-off, oldest first; `counts` says whether it still counts (an approval whose "
        "digests are all current) and `changed_digests` which digests changed since.",
        responses={200: SignOffSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"])
    def signoffs(self, request, passport_key=None, number=None):
        rows = self.version.signoffs.select_related("signer").order_by("signed_at", "pk")
        context = {**self.get_serializer_context(), "digests": signoff_services.current_digests(self.version)}
        return Response(SignOffSerializer(rows, many=True, context=context).data)

    @extend_schema(
        summary="List the tests that approval must accept",
        description="The failed tests and the tests skipped under the validator's exception in the report in "
        "force, each with its risk officer's acceptance (null until accepted). Approval waits until every one is "
        "accepted; a new report asks again.",
        responses={200: TestToAcceptSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], url_path="test-acceptances", url_name="test-acceptances")
    def test_acceptances(self, request, passport_key=None, number=None):
        return Response(TestToAcceptSerializer(signoff_services.tests_to_accept(self.version), many=True).data)

    @extend_schema(
        summary="Accept a failed or excepted test",
        description="A risk officer accepts one failed or excepted test of the report in force on a validated "
        "version, with a rationale (at least 20 characters); when that was all approval waited for, the version "
        "is approved. 409 `already_accepted`, `nothing_to_accept`. Audit event `test.accepted`.",
        request=TestAcceptSerializer,
        responses={201: TestAcceptanceSerializer, **VERB_ERRORS},
    )
    @test_acceptances.mapping.post
    def test_accept(self, request, passport_key=None, number=None):
        data = _validated(TestAcceptSerializer, request.data)
        acceptance = signoff_services.test_accept(actor=request.user, version=self.version, test=data["test"],
                                                  rationale=data["rationale"])
        return Response(TestAcceptanceSerializer(acceptance).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="List a version's findings",
        responses={200: FindingSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"])
    def findings(self, request, passport_key=None, number=None):
        rows = self.version.findings.select_related("version__passport", "owner", "raised_by", "accepted_by")
        return Response(FindingSerializer(rows.order_by("due_date", "pk"), many=True).data)

    @extend_schema(
        summary="Get a version's OWASP ML Top-10 checklist",
        description="Opened at submission (empty before). Each item carries the OWASP risk, the control "
        "questions, the answer and the evidence the platform filled in; `digest` is what sign-offs bind to.",
        responses={200: ChecklistSerializer, **READ_ERRORS},
    )
    @action(detail=True, methods=["get"])
    def checklist(self, request, passport_key=None, number=None):
        items = self.version.checklist.select_related("answered_by").order_by("code")
        data = {"digest": signoff_services.checklist_digest(self.version), "items": items}
        return Response(ChecklistSerializer(data).data)

    # ---- verbs

    @extend_schema(
        summary="Submit a version for validation",
        description="draft -> submitted, by the technical owner or a development-team member. Snapshots the "
        "tier policy in force and opens the OWASP checklist. Audit event `version.submitted`.",
        request=None,
        responses={200: VersionSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, passport_key=None, number=None):
        return self._version_out(workflow.version_submit(actor=request.user, version=self.version))

    @extend_schema(
        summary="Assign a validator",
        description="Risk officers only. The validator must hold the validator role and be neither the author "
        "nor a development-team member (400 `not_a_validator`, `sod_author`, `sod_team`). The first assignment "
        "moves submitted -> in_validation. Audit events `validator.assigned`, `version.validation_started`.",
        request=AssignSerializer,
        responses={201: AssignmentSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, passport_key=None, number=None):
        data = _validated(AssignSerializer, request.data)
        assignment = workflow.validator_assign(actor=request.user, version=self.version, validator=data["validator"])
        return Response(AssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Issue a validation report",
        description="An assigned validator uploads the frozen report of a version in validation (or validated: "
        "a new report makes earlier sign-offs stale). Audit event `report.issued`.",
        request={"multipart/form-data": ReportUploadSerializer},
        responses={201: ReportSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def report(self, request, passport_key=None, number=None):
        data = _validated(ReportUploadSerializer, request.data)
        report = validation_services.report_issue_uploaded(actor=request.user, version=self.version,
                                                           upload=data["file"], conclusion=data["conclusion"],
                                                           rating=data["rating"], conditions=data.get("conditions"))
        return Response(ReportSerializer(report, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Complete the validation",
        description="in_validation -> validated, by an assigned validator once a report is issued. "
        "Audit event `version.validated`.",
        request=None,
        responses={200: VersionSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="mark-validated")
    def mark_validated(self, request, passport_key=None, number=None):
        return self._version_out(workflow.version_mark_validated(actor=request.user, version=self.version))

    @extend_schema(
        summary="Sign off a version",
        description="An electronic signature: `password` re-authenticates the signer (403 `reauth_failed`). "
        "Segregation of duties refuses the author (`sod_author`), development-team members (`sod_team`) and a "
        "second role for one person (`sod_two_roles`). The sign-off binds to the current artifact, report and "
        "checklist digests; the last required approval approves the version. A `reject` returns the version to "
        "its author. An approval while the checklist is still being answered or a validation run is in progress "
        "needs `acknowledge_pending` (else `inputs_pending`). Audit events `signoff.recorded`, then "
        "`version.approved` or `version.rejected`; a later change that voids it records `signoff.voided`.",
        request=SignOffCreateSerializer,
        responses={201: SignOffSerializer, **VERB_ERRORS},
    )
    @signoffs.mapping.post
    def signoff_record(self, request, passport_key=None, number=None):
        data = _validated(SignOffCreateSerializer, request.data)
        conditions = [{"text": c["text"], "due_date": c["due_date"].isoformat()} for c in data.get("conditions", [])]
        signoff = signoff_services.signoff_record(actor=request.user, version=self.version, role=data["role"],
                                          decision=data["decision"], password=data["password"],
                                          comment=data.get("comment", ""), conditions=conditions,
                                          acknowledge_pending=data.get("acknowledge_pending", False))
        context = {**self.get_serializer_context(), "digests": signoff_services.current_digests(signoff.version)}
        return Response(SignOffSerializer(signoff, context=context).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Raise a finding",
        description="Validators, risk officers and security, on versions under review or approved. An open "
        "high-severity finding blocks approval. Audit event `finding.raised`.",
        request=FindingCreateSerializer,
        responses={201: FindingSerializer, **VERB_ERRORS},
    )
    @findings.mapping.post
    def finding_raise(self, request, passport_key=None, number=None):
        data = _validated(FindingCreateSerializer, request.data)
        finding = finding_services.finding_raise(actor=request.user, version=self.version, **data)
        return Response(FindingSerializer(finding).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Answer an OWASP checklist item",
        description="Security reviewers, while the version is under review. JSON, or multipart with an "
        "`attachment` evidence file. Any change alters the checklist digest, so sign-offs bound to the old "
        "checklist stop counting. Audit event `checklist.answered`.",
        parameters=[CHECKLIST_CODE],
        request={"application/json": ChecklistAnswerSerializer, "multipart/form-data": ChecklistAnswerSerializer},
        responses={200: ChecklistSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path=r"checklist/(?P<code>[^/.]+)",
            parser_classes=[JSONParser, MultiPartParser])
    def checklist_answer(self, request, passport_key=None, number=None, code=None):
        item = self.version.checklist.filter(code=code).first()
        if item is None:
            raise NotFound("No such checklist item on this version.")
        data = _validated(ChecklistAnswerSerializer, request.data)
        finding_services.checklist_answer(actor=request.user, item=item, status=data["status"],
                                  evidence=data.get("evidence", ""), links=data.get("links"),
                                  attachment=data.get("attachment"))
        return self.checklist(request)

    @extend_schema(
        summary="Reject a version",
        description="Risk officers, while submitted, in validation or validated; the author gets the reason. "
        "Audit event `version.rejected`.",
        request=RequiredReasonSerializer,
        responses={200: VersionSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, passport_key=None, number=None):
        reason = _validated(RequiredReasonSerializer, request.data)["reason"]
        return self._version_out(workflow.version_reject(actor=request.user, version=self.version, reason=reason))

    @extend_schema(
        summary="Revoke an approval",
        description="approved -> revoked (risk officers), e.g. after an incident; serving stops or rolls back "
        "the version. Audit event `version.revoked`.",
        request=RequiredReasonSerializer,
        responses={200: VersionSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, passport_key=None, number=None):
        reason = _validated(RequiredReasonSerializer, request.data)["reason"]
        return self._version_out(workflow.version_revoke(actor=request.user, version=self.version, reason=reason))

    @extend_schema(
        summary="Retire a version",
        description="approved -> retired, by a risk officer or the business owner. Audit event `version.retired`.",
        request=ReasonSerializer,
        responses={200: VersionSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def retire(self, request, passport_key=None, number=None):
        reason = _validated(ReasonSerializer, request.data).get("reason", "")
        return self._version_out(workflow.version_retire(actor=request.user, version=self.version, reason=reason))


# --------------------------------------------------------------------------- findings across versions




@extend_schema_view(
    list=extend_schema(
        summary="List findings",
        description="Findings on every version the user may see, soonest due first.",
        responses={200: FindingSerializer(many=True), **error_responses(400, 403, 404)},
    ),
)
class FindingViewSet(SelectorFilterMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Findings across versions; a finding on a passport the user may not see is a 404."""

    permission_classes = [Authenticated]
    scope = "governance"
    serializer_class = FindingSerializer
    parser_classes = [JSONParser]
    filter_backends = [SelectorFilterBackend]
    filterset_class = FindingFilterSet
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return Finding.objects.none()
        return selectors.finding_list(user=self.request.user, filters=self.selector_filters())

    @extend_schema(
        summary="Change a finding's status",
        description="remediated (its owner or a reviewer), risk_accepted (a risk officer, with a `note`), open "
        "(reopen, a reviewer). Closing the last blocking finding may complete a pending approval. Audit event "
        "`finding.status_changed`.",
        parameters=[FINDING_ID],
        request=FindingStatusChangeSerializer,
        responses={200: FindingSerializer, **VERB_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="status", url_name="status")
    def set_status(self, request, pk=None):
        finding = self.get_object()  # a finding the user may not see is a 404 whatever the input
        data = _validated(FindingStatusChangeSerializer, request.data)
        finding = finding_services.finding_set_status(actor=request.user, finding=finding, status=data["status"],
                                                      note=data.get("note", ""))
        return Response(self.get_serializer(finding).data)


# --------------------------------------------------------------------------- tier policies


@extend_schema_view(
    list=extend_schema(summary="List the risk-tier approval policies",
                       responses={200: PolicySerializer(many=True), **error_responses(403, 404)}),
)
class PolicyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What an approval needs per risk tier. Every signed-in user may read them; administrators change them."""

    permission_classes = [Authenticated]
    scope = "governance"
    serializer_class = PolicySerializer
    parser_classes = [JSONParser]
    filter_backends: list = []
    lookup_field = "tier"
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        return RiskTierPolicy.objects.select_related("updated_by").order_by("tier")

    @extend_schema(
        summary="Change a tier's policy",
        description="Administrators only. Applies to versions submitted from now on: each submission keeps the "
        "policy it was submitted under. Audit event `policy.changed`.",
        parameters=[POLICY_TIER],
        request=PolicyUpdateSerializer,
        responses={200: PolicySerializer, **error_responses(400, 403, 404)},
    )
    def partial_update(self, request, tier=None):
        policy = self.get_object()
        data = _validated(PolicyUpdateSerializer, request.data, partial=True)
        return Response(self.get_serializer(policies.policy_update(actor=request.user, policy=policy, **data)).data)


# --------------------------------------------------------------------------- inbox and portfolio


class InboxView(GenericAPIView):
    """What waits on the requesting user."""

    permission_classes = [Authenticated]
    scope = "governance"
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        summary="Get my inbox",
        description="Versions you are assigned to validate, validated versions you may sign now, open findings "
        "you own, and approvals of your models expiring within 30 days.",
        responses={200: InboxSerializer, **error_responses(403)},
    )
    def get(self, request):
        return Response(InboxSerializer(selectors.inbox(user=request.user)).data)


class PortfolioView(GenericAPIView):
    """Counts across every version the requesting user may see."""

    permission_classes = [Authenticated]
    scope = "governance"
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        summary="Get the portfolio summary",
        description="Versions by state and risk tier, overdue findings, approvals expiring within 30 days and "
        "open findings by severity, over the versions the user may see.",
        responses={200: PortfolioSerializer, **error_responses(403)},
    )
    def get(self, request):
        summary = selectors.portfolio_summary(user=request.user)
        by_severity = summary["open_findings_by_severity"]
        summary["open_findings_by_severity"] = {s: by_severity.get(s, 0) for s in FindingSeverity.values}
        ratings = summary["ratings"]
        summary["ratings"] = {**{r: ratings.get(r, 0) for r in Rating.values}, "not_rated": ratings.get("", 0)}
        return Response(PortfolioSerializer(summary).data)
