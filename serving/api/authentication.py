"""Host-token authentication for the agents' API: ``Authorization: Bearer mgh_<prefix>_<secret>``.

``request.user`` is a :class:`HostPrincipal` (authenticated, holds no user permission) and ``request.auth`` the
Host row; every agents' view reads its host from there, so a host can only ever see its own state.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from core.api.authentication import bearer_token
from serving.models import Host
from serving.services import host_authenticate


class HostPrincipal:
    """The request's user when a host calls: authenticated, active, and no person."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    def __init__(self, host: Host):
        self.host = host
        self.pk = None

    def __str__(self) -> str:
        return f"host {self.host.name}"

    def has_perm(self, perm: str, obj=None) -> bool:
        return False

    def get_username(self) -> str:
        return str(self)


class HostTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = bearer_token(request)
        if raw is None:
            if authentication.get_authorization_header(request):  # another scheme: no host speaks it
                raise exceptions.AuthenticationFailed("Expected 'Authorization: Bearer <host token>'.")
            return None
        host = host_authenticate(raw)
        if host is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked host token.")
        return HostPrincipal(host), host

    def authenticate_header(self, request):
        return self.keyword


class IsHost(permissions.BasePermission):
    message = "A host token is required."

    def has_permission(self, request, view):
        return isinstance(request.auth, Host) and request.auth.is_active


class HostRateThrottle(throttling.SimpleRateThrottle):
    """Per host, at the ``agent`` rate."""

    scope = "agent"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, Host):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class EnrolRateThrottle(throttling.AnonRateThrottle):
    scope = "enrol"


class HostTokenScheme(OpenApiAuthenticationExtension):
    target_class = "serving.api.authentication.HostTokenAuthentication"
    name = "hostToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A serving host's own token (`mgh_...`), returned once at enrolment or rotation."}
