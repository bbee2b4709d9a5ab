"""Bearer-token authentication against hashed, expiring, scoped API tokens."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.api.authentication import bearer_token
from governance.accounts.services import token_authenticate


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer mgt_<prefix>_<secret>``; ``request.auth`` is the ApiToken row."""

    keyword = "Bearer"

    def authenticate(self, request):
        raw = bearer_token(request, (self.keyword, "Token"))
        if raw is None:
            return None
        token = token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.accounts.api.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "API token created on the API tokens page."}
