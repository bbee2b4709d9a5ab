"""Account API: the user's own API tokens (list, create, revoke).

Deny by default; writes go through one service call each."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.parsers import JSONParser
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.errors import PermissionDenied
from governance.accounts.api.serializers import TokenCreatedSerializer, TokenCreateSerializer, TokenSerializer
from governance.accounts.models import ApiToken
from governance.accounts.selectors import token_list
from governance.accounts.services import token_create, token_revoke

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
            raise PermissionDenied(_("This token cannot grant scopes it does not hold: %(scopes)s.")
                                   % {"scopes": missing}, field="scopes")

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
