"""Serving API: hosts, enrolment tokens and deployments for people (scope family ``serving``), and the agents' API
for hosts (host-token authenticated, each host sees only its own state).

Reads come from ``serving.selectors``; each write validates types with an input serializer and makes one
``serving.services`` call, which checks the guard (403/409) and the business rules (400).
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.parsers import JSONParser
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.api.serializers import validated as _validated
from core.signing import key_id, public_key_pem
from registry import selectors as registry_selectors
from serving import alerts, kserve, selectors, services
from serving.agent import manifest as mf
from serving.api import serializers as s
from serving.api.authentication import EnrolRateThrottle, HostRateThrottle, HostTokenAuthentication, IsHost
from serving.choices import IncidentStatus
from serving.models import Deployment, EnrolmentToken, Host, Incident
from serving.releases import release_paths

ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Id.")
PASSPORT_KEY = OpenApiParameter("passport_key", str, OpenApiParameter.PATH, description="Passport key.")


# --------------------------------------------------------------------------- people: hosts and tokens


@extend_schema_view(
    list=extend_schema(summary="List serving hosts", responses={200: s.HostSerializer(many=True),
                                                                **error_responses(400, 403, 404)}),
    retrieve=extend_schema(summary="Get a serving host", parameters=[ID],
                           responses={200: s.HostSerializer, **error_responses(403, 404)}),
)
class HostViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Enrolled serving hosts with their health. Visible to the roles that deploy, review or audit serving."""

    permission_classes = [Authenticated]
    scope = "serving"
    serializer_class = s.HostSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Host.objects.none()
        return selectors.host_list(user=self.request.user)

    @extend_schema(summary="Change a host's cost and labels", parameters=[ID], request=s.HostUpdateSerializer,
                   description="Administrators only. The cost per hour feeds the ledger's inference cost.",
                   responses={200: s.HostSerializer, **error_responses(400, 403, 404)})
    def partial_update(self, request, pk=None):
        host = services.host_update(actor=request.user, host=self.get_object(),
                                    **_validated(s.HostUpdateSerializer, request.data))
        return Response(self.get_serializer(host).data)

    @extend_schema(summary="Revoke a host", parameters=[ID], request=s.ServingReasonSerializer,
                   description="Administrators only. The host's token stops working at once and it serves "
                   "nothing the control plane sends any more.",
                   responses={200: s.HostSerializer, **error_responses(400, 403, 404, 409)})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        host = services.host_revoke(actor=request.user, host=self.get_object(),
                                    **_validated(s.ServingReasonSerializer, request.data))
        return Response(self.get_serializer(host).data)


@extend_schema_view(
    list=extend_schema(summary="List enrolment tokens", responses={200: s.EnrolmentTokenSerializer(many=True),
                                                                   **error_responses(400, 403, 404)}),
)
class EnrolmentTokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """One-time tokens for enrolling hosts (administrators). Secrets are never listed."""

    permission_classes = [Authenticated]
    scope = "serving"
    serializer_class = s.EnrolmentTokenSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return EnrolmentToken.objects.none()
        return selectors.enrolment_token_list(user=self.request.user)

    @extend_schema(summary="Create an enrolment token", request=s.EnrolmentTokenCreateSerializer,
                   description="Administrators only. The token is in this answer and nowhere else; it enrols one "
                   "host, once, before it expires (default `MG_ENROLMENT_TOKEN_TTL_HOURS`).",
                   responses={201: s.EnrolmentTokenCreatedSerializer, **error_responses(400, 403)})
    def create(self, request):
        token, secret = services.enrolment_token_create(
            actor=request.user, **_validated(s.EnrolmentTokenCreateSerializer, request.data))
        token.token = secret
        return Response(s.EnrolmentTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------- people: deployments


@extend_schema_view(
    list=extend_schema(summary="List deployments", parameters=[
        OpenApiParameter("passport", str, description="Only this passport's deployments."),
        OpenApiParameter("status", str, enum=["active", "stopped"], description="Only active or stopped ones.")],
        responses={200: s.DeploymentSerializer(many=True), **error_responses(400, 403, 404)}),
    retrieve=extend_schema(summary="Get a deployment", parameters=[ID],
                           responses={200: s.DeploymentSerializer, **error_responses(403, 404)}),
)
class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deployments of approved versions on serving hosts, for the passports the user may see."""

    permission_classes = [Authenticated]
    scope = "serving"
    serializer_class = s.DeploymentSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Deployment.objects.none()
        filters = {}
        if self.action == "list":
            status_filter = self.request.query_params.get("status")
            if status_filter not in (None, "", "active", "stopped"):
                raise ValidationError({"status": ["Use active or stopped."]})
            filters = {"status": status_filter, "passport": self.request.query_params.get("passport")}
        return selectors.deployment_list(user=self.request.user, filters=filters)

    @extend_schema(
        summary="Deploy a version",
        description="Only an approved, unexpired, unrevoked version (and challenger) can be deployed; the refusal "
        "names why (`version_not_approved`, `version_revoked`, `approval_expired`). A tier-1 production "
        "deployment needs at least 2 hosts (`too_few_hosts`). One active deployment per passport and environment "
        "(`deployment_exists`). The releases are signed before the deployment is recorded.",
        request=s.DeploymentCreateSerializer,
        responses={201: s.DeploymentSerializer, **error_responses(400, 403, 404, 409)},
    )
    def create(self, request):
        data = _validated(s.DeploymentCreateSerializer, request.data)
        passport = registry_selectors.passport_get(user=request.user, key=data.pop("passport"))
        deployment = services.deployment_create(actor=request.user, passport=passport, **data)
        return Response(self.get_serializer(deployment).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Put a challenger beside the champion", parameters=[ID], request=s.ChallengerSerializer,
                   description="As a canary (a share of requests, 1-50%) or a shadow (a copy of each request, its "
                   "answers logged and compared, never returned). The challenger must be deployable too.",
                   responses={200: s.DeploymentSerializer, **error_responses(400, 403, 404, 409)})
    @action(detail=True, methods=["post"])
    def challenger(self, request, pk=None):
        deployment = services.deployment_challenger_set(actor=request.user, deployment=self.get_object(),
                                                        **_validated(s.ChallengerSerializer, request.data))
        return Response(self.get_serializer(deployment).data)

    @extend_schema(summary="Promote the challenger", parameters=[ID], request=None,
                   responses={200: s.DeploymentSerializer, **error_responses(403, 404, 409)})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        deployment = services.deployment_promote(actor=request.user, deployment=self.get_object())
        return Response(self.get_serializer(deployment).data)

    @extend_schema(summary="Roll back", parameters=[ID], request=s.ServingReasonSerializer,
                   description="With a challenger, withdraws it; otherwise serves the previous approved, unexpired "
                   "version again (`no_rollback_target` when there is none). Risk officers may roll back too.",
                   responses={200: s.DeploymentSerializer, **error_responses(400, 403, 404, 409)})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        deployment = services.deployment_rollback(actor=request.user, deployment=self.get_object(),
                                                  **_validated(s.ServingReasonSerializer, request.data))
        return Response(self.get_serializer(deployment).data)

    @extend_schema(
        summary="Render a KServe InferenceService",
        parameters=[ID, OpenApiParameter("namespace", str, description="Kubernetes namespace to put in the "
                                         "objects' metadata (a DNS-1123 label); none by default.")],
        description="The champion's signed release for a cluster: a ConfigMap with the release-signing public key, "
        "a `ModelValidation` for sigstore's model-validation operator, and the `InferenceService` (ONNX on the "
        "Triton runtime, Open Inference Protocol v2, built with the kserve SDK's own models), as objects and as one "
        "YAML stream. The storage URI is an expiring link to the release as a signed Triton model repository "
        "(`MG_KSERVE_STORAGE_URI` overrides it). Refused for a version that may not be served "
        "(`version_not_approved`, `version_revoked`, `approval_expired`), for a model Triton cannot serve "
        "(`kserve_unsupported_type`), and with 501 `kserve_not_installed` where the optional SDK is missing.",
        responses={200: s.KServeRenderSerializer, **error_responses(400, 403, 404, 409, 501)},
    )
    @action(detail=True, methods=["get"])
    def kserve(self, request, pk=None):
        namespace = _validated(s.KServeQuerySerializer, request.query_params).get("namespace", "")
        return Response(kserve.render_for(request, self.get_object(), namespace=namespace))

    @extend_schema(
        summary="Prediction-log files reported",
        parameters=[ID, OpenApiParameter("host", str, description="Only this host's files (its name).")],
        description="The sha256, record count and period of every rotated prediction-log file the deployment's "
        "hosts reported, oldest first. A file is reported once and never with another digest "
        "(`digest_changed`), so this list is what an auditor checks a host's log against: "
        "`python -m serving.agent.logs verify` on the host.",
        responses={200: s.LogDigestOutSerializer(many=True), **error_responses(403, 404)},
    )
    @action(detail=True, methods=["get"], url_path="log-digests")
    def log_digests(self, request, pk=None):
        host = request.query_params.get("host")
        page = self.paginate_queryset(selectors.log_digest_list(deployment=self.get_object(), host=host))
        return self.get_paginated_response(s.LogDigestOutSerializer(page, many=True).data)

    @extend_schema(summary="Stop serving", parameters=[ID], request=s.ServingReasonSerializer,
                   responses={200: s.DeploymentSerializer, **error_responses(400, 403, 404, 409)})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        deployment = services.deployment_stop(actor=request.user, deployment=self.get_object(),
                                              **_validated(s.ServingReasonSerializer, request.data))
        return Response(self.get_serializer(deployment).data)


class KServeBundleView(APIView):
    """The signed bundle a rendered InferenceService points at; the link itself is the credential (KServe's
    storage initializer sends none), it expires, and it stops working when the version may no longer be served."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [EnrolRateThrottle]

    @extend_schema(summary="Download a release bundle for KServe", tags=["serving"],
                   parameters=[OpenApiParameter("token", str, OpenApiParameter.PATH),
                               OpenApiParameter("name", str, OpenApiParameter.PATH)],
                   responses={(200, "application/gzip"): OpenApiTypes.BINARY,
                              **error_responses(404, 409, 410, media_type="application/json")})
    def get(self, request, token: str, name: str):
        archive = kserve.bundle_for_token(token)
        return FileResponse(open(archive, "rb"), as_attachment=True, filename=name,  # noqa: SIM115
                            content_type="application/gzip")


# --------------------------------------------------------------------------- the agents' API


class AgentView(APIView):
    authentication_classes = [HostTokenAuthentication]
    permission_classes = [IsHost]
    throttle_classes = [HostRateThrottle]
    parser_classes = [JSONParser]

    @property
    def host(self) -> Host:
        return self.request.auth


class AgentEnrolView(AgentView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [EnrolRateThrottle]

    @extend_schema(summary="Enrol a host", tags=["agents"], auth=[], request=s.EnrolSerializer,
                   description="Spends a one-time enrolment token (`invalid_enrolment_token`, "
                   "`enrolment_token_used`, `enrolment_token_expired`) and returns the host's own token, once, "
                   "with the control plane's release-signing public key. An agent whose answer was lost asks again "
                   "with the same `request_id` and gets a fresh token; the lost one stops working.",
                   responses={201: s.EnrolledSerializer, **error_responses(400, 409)})
    def post(self, request):
        data = _validated(s.EnrolSerializer, request.data)
        token, name, request_id = data.pop("token"), data.pop("name"), data.pop("request_id", None)
        host, secret = services.host_enrol(enrolment_token=token, name=name, facts=data, request_id=request_id)
        from django.conf import settings

        return Response({"host": host.pk, "name": host.name, "host_token": secret, "public_key_pem": public_key_pem(),
                         "key_id": key_id(), "poll_seconds": settings.MG_AGENT_POLL_SECONDS},
                        status=status.HTTP_201_CREATED)


class AgentStateView(AgentView):
    @extend_schema(summary="Desired state", tags=["agents"],
                   description="What this host should serve now: per deployment the signed releases (champion, "
                   "challenger), the strategy and the canary share. Versions no longer servable are listed under "
                   "`withdrawn` with the reason. `If-None-Match` with the last etag answers 304 when nothing "
                   "changed.",
                   responses={200: s.DesiredStateSerializer, 304: OpenApiResponse(description="Unchanged."),
                              **error_responses()})
    def get(self, request):
        state = selectors.desired_state(self.host)
        etag = f'"{state["etag"]}"'
        if request.headers.get("If-None-Match") == etag:
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
        else:
            response = Response(state)
        response["ETag"] = etag
        return response


def _release_or_404(host: Host, pk: int):
    release = selectors.release_for_host(host, pk)
    if release is None:
        raise NotFound("No such release in this host's desired state.")
    return release


class AgentReleaseFileView(AgentView):
    @extend_schema(summary="Download a release file", tags=["agents"],
                   parameters=[ID, OpenApiParameter("name", str, OpenApiParameter.PATH,
                                                    enum=[mf.ARTIFACT_FILE, mf.MANIFEST_FILE])],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              **error_responses(404, media_type="application/json")})
    def get(self, request, pk: int, name: str):
        release = _release_or_404(self.host, pk)
        if name not in (mf.ARTIFACT_FILE, mf.MANIFEST_FILE):
            raise NotFound("No such file in a release.")
        folder, _signature = release_paths(release)
        path = folder / name
        if not path.is_file():
            raise NotFound("The release file is missing from storage.")
        return FileResponse(open(path, "rb"), as_attachment=True, filename=name,  # noqa: SIM115 (FileResponse closes)
                            content_type="application/octet-stream")


class AgentReleaseSignatureView(AgentView):
    @extend_schema(summary="Download a release's signature", tags=["agents"], parameters=[ID],
                   description="The OpenSSF Model Signing bundle (sigstore format) over the release's files.",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              **error_responses(404, media_type="application/json")})
    def get(self, request, pk: int):
        release = _release_or_404(self.host, pk)
        _folder, signature = release_paths(release)
        if not signature.is_file():
            raise NotFound("The release signature is missing from storage.")
        return FileResponse(open(signature, "rb"), as_attachment=True,  # noqa: SIM115
                            filename=f"release-{release.pk}.sig", content_type="application/octet-stream")


class AgentHeartbeatView(AgentView):
    @extend_schema(summary="Heartbeat", tags=["agents"], request=s.HeartbeatSerializer,
                   description="The host is alive; what it runs on, what it serves, and any problem it met "
                   "(a release whose digest or signature did not hold, a stop-limit reached).",
                   responses={200: s.HeartbeatAnswerSerializer, **error_responses(400)})
    def post(self, request):
        data = _validated(s.HeartbeatSerializer, request.data)
        status_report = {"serving": data.pop("serving", []), "problems": data.pop("problems", [])}
        host = alerts.heartbeat_receive(host=self.host, facts=data, status=status_report)
        state = selectors.desired_state(host)
        return Response({"etag": state["etag"], "poll_seconds": state["poll_seconds"]})


class AgentWindowsView(AgentView):
    @extend_schema(summary="Deliver monitoring windows", tags=["agents"], request=s.WindowsSerializer,
                   description="Idempotent by host, deployment and sequence number: a window delivered twice is "
                   "stored once (`duplicates`). At most 500 windows per call.",
                   responses={200: s.CountsSerializer, **error_responses(400)})
    def post(self, request):
        data = _validated(s.WindowsSerializer, request.data)
        return Response(alerts.windows_receive(host=self.host, windows=data["windows"]))


class AgentLogDigestsView(AgentView):
    @extend_schema(summary="Report prediction-log digests", tags=["agents"], request=s.LogDigestsSerializer,
                   description="The sha256 of each rotated prediction-log file. The same file again is a "
                   "duplicate; another digest for a file already reported is refused (`digest_changed`).",
                   responses={200: s.CountsSerializer, **error_responses(400, 409)})
    def post(self, request):
        data = _validated(s.LogDigestsSerializer, request.data)
        return Response(alerts.log_digests_receive(host=self.host, digests=data["digests"]))


class AgentTokenRotateView(AgentView):
    @extend_schema(summary="Rotate the host token", tags=["agents"], request=None,
                   description="Returns a new host token (once); the one used for this call stops working.",
                   responses={200: s.RotatedSerializer, **error_responses()})
    def post(self, request):
        return Response({"host_token": services.host_token_rotate(host=self.host)})


# --------------------------------------------------------------------------- people: incidents and policies


@extend_schema_view(
    list=extend_schema(summary="List incidents", parameters=[
        OpenApiParameter("passport", str, description="Only this passport's incidents."),
        OpenApiParameter("status", str, enum=["open", "acknowledged", "resolved"])],
        responses={200: s.IncidentSerializer(many=True), **error_responses(400, 403, 404)}),
    retrieve=extend_schema(summary="Get an incident with its alerts and timeline", parameters=[ID],
                           responses={200: s.IncidentDetailSerializer, **error_responses(403, 404)}),
)
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents opened by serving alerts, on passports the user may see."""

    permission_classes = [Authenticated]
    scope = "serving"
    serializer_class = s.IncidentSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Incident.objects.none()
        filters = {}
        if self.action == "list":
            status_filter = self.request.query_params.get("status")
            if status_filter not in (None, "", *IncidentStatus.values):
                raise ValidationError({"status": ["Use open, acknowledged or resolved."]})
            filters = {"status": status_filter, "passport": self.request.query_params.get("passport")}
        return selectors.incident_list(user=self.request.user, filters=filters)

    def retrieve(self, request, pk=None):
        return Response(s.IncidentDetailSerializer(self.get_object()).data)

    @extend_schema(summary="Acknowledge an incident", parameters=[ID], request=s.NoteSerializer,
                   responses={200: s.IncidentSerializer, **error_responses(400, 403, 404, 409)})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        incident = alerts.incident_acknowledge(actor=request.user, incident=self.get_object(),
                                               **_validated(s.NoteSerializer, request.data))
        return Response(self.get_serializer(incident).data)

    @extend_schema(summary="Resolve an incident", parameters=[ID], request=s.ResolutionSerializer,
                   responses={200: s.IncidentSerializer, **error_responses(400, 403, 404, 409)})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        incident = alerts.incident_resolve(actor=request.user, incident=self.get_object(),
                                           **_validated(s.ResolutionSerializer, request.data))
        return Response(self.get_serializer(incident).data)


class PolicyView(APIView):
    """``/serving/policies/{passport_key}/``: what a monitoring alert does for the passport."""

    permission_classes = [Authenticated]
    scope = "serving"
    parser_classes = [JSONParser]

    def _answer(self, passport):
        from serving.models import ServingPolicy

        return Response({"passport": passport.key, "on_alert": alerts.policy_action(passport),
                         "default": not ServingPolicy.objects.filter(passport=passport).exists()})

    @extend_schema(summary="Get a passport's serving policy", parameters=[PASSPORT_KEY],
                   responses={200: s.ServingPolicySerializer, **error_responses(403, 404)})
    def get(self, request, passport_key: str):
        return self._answer(registry_selectors.passport_get(user=request.user, key=passport_key))

    @extend_schema(summary="Set a passport's serving policy", parameters=[PASSPORT_KEY],
                   request=s.ServingPolicySetSerializer,
                   description="`notify`, `rollback` (to the previous approved version) or `stop` when a drift, "
                   "latency or error-rate alert fires. Without a policy: tier 1 rolls back, tiers 2 and 3 notify.",
                   responses={200: s.ServingPolicySerializer, **error_responses(400, 403, 404)})
    def put(self, request, passport_key: str):
        passport = registry_selectors.passport_get(user=request.user, key=passport_key)
        data = _validated(s.ServingPolicySetSerializer, request.data)
        alerts.policy_set(actor=request.user, passport=passport, **data)
        return self._answer(passport)
