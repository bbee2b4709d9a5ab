"""Governance API: the audit chain (list, verify) and the user's own API tokens.

Every view is deny-by-default (``Authenticated`` plus a token scope family); reads come from selectors
scoped to the user, writes go through one service call each.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from core.api.filters import SelectorFilterBackend, SelectorFilterMixin
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.errors import PermissionDenied
from governance.api.serializers import (
    AuditEventSerializer,
    ChainVerificationSerializer,
    TokenCreatedSerializer,
    TokenCreateSerializer,
    TokenSerializer,
)
from governance.models import ApiToken, AuditEvent
from governance.selectors import audit_event_list, token_list
from governance.services.audit import audit_verify
from governance.services.tokens import token_create, token_revoke

VIEW_AUDIT = "governance.view_auditevent"






class AuditEventFilterSet(django_filters.FilterSet):
    """Query parameters of the audit list; ``governance.selectors.audit_event_list`` applies them."""

    action = django_filters.CharFilter(help_text="Action, or its prefix (`version.` matches every version event).")
    passport = django_filters.CharFilter(help_text="Passport key.")
    actor = django_filters.CharFilter(help_text="Username of the actor.")
    object_type = django_filters.CharFilter(help_text="`app_label.model`, e.g. `registry.modelversion`.")

    class Meta:
        model = AuditEvent
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        summary="List audit events",
        description="Newest first. Users without `governance.view_auditevent` get an empty list.",
        responses={200: AuditEventSerializer(many=True), **error_responses(400, 403, 404)},
    ),
)
class AuditEventViewSet(SelectorFilterMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit chain, read-only."""

    permission_classes = [Authenticated]
    scope = "audit"
    serializer_class = AuditEventSerializer
    filter_backends = [SelectorFilterBackend]
    filterset_class = AuditEventFilterSet

    def get_queryset(self):
        return audit_event_list(user=self.request.user, filters=self.selector_filters())

    @extend_schema(
        summary="Verify the audit chain",
        description="Recomputes every event's hash and link; reports the first broken event. "
        "Needs `governance.view_auditevent` (403 otherwise).",
        filters=False,
        responses={200: ChainVerificationSerializer, **error_responses(403)},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def verify(self, request):
        if not request.user.has_perm(VIEW_AUDIT):
            raise PermissionDenied("You may not verify the audit chain.")
        return Response(ChainVerificationSerializer(audit_verify().as_dict()).data)


TOKEN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Token id.")


@extend_schema_view(
    list=extend_schema(
        summary="List API tokens",
        description="The user's own tokens (an administrator sees everyone's); never the secret or its hash.",
        responses={200: TokenSerializer(many=True), **error_responses(403, 404)},
    ),
)
class TokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """API tokens: list, create (the secret is returned once), revoke."""

    permission_classes = [Authenticated]
    scope = "tokens"
    serializer_class = TokenSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []
    lookup_value_regex = "[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return ApiToken.objects.none()
        return token_list(user=self.request.user)

    @extend_schema(
        summary="Create an API token",
        description="Returns the token's secret in `token`, this once. A request authenticated by a token "
        "may only create tokens with scopes that token holds.",
        request=TokenCreateSerializer,
        responses={201: TokenCreatedSerializer, **error_responses(400, 403)},
    )
    def create(self, request):
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self._check_scope_confinement(data["scopes"])
        token, secret = token_create(user=request.user, actor=request.user, name=data["name"],
                                     scopes=data["scopes"], ttl_days=data.get("ttl_days"))
        token.token = secret
        return Response(TokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def _check_scope_confinement(self, scopes: list[str]) -> None:
        # A token must not mint a token stronger than itself (tokens:write alone would otherwise reach
        # registry:write); a session user acts with their own rights and may pick any scope.
        token = self.request.auth
        if isinstance(token, ApiToken) and not set(scopes) <= set(token.scopes):
            missing = ", ".join(sorted(set(scopes) - set(token.scopes)))
            raise PermissionDenied(f"This token cannot grant scopes it does not hold: {missing}.", field="scopes")

    @extend_schema(
        summary="Revoke an API token",
        parameters=[TOKEN_ID],
        request=None,
        responses={200: TokenSerializer, **error_responses(400, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = token_revoke(token=self.get_object(), actor=request.user)
        return Response(TokenSerializer(token).data)
