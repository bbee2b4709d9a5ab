"""API permission classes. Deny by default; each view names the token scope family it needs."""

from django.utils.translation import gettext as _
from rest_framework import permissions

from core.errors import PermissionDenied


class DenyByDefault(permissions.BasePermission):
    """The default for any view that forgets to declare its permissions."""

    def has_permission(self, request, view):
        return False


class Authenticated(permissions.BasePermission):
    """Authenticated, and when the request carries an API token, the token holds the view's scope.

    Views set ``scope = "registry"`` (say); reads need ``registry:read`` (or write), writes need ``registry:write``.
    A view whose POST only computes and stores nothing sets ``reads_only = True``: the read scope is enough.
    """

    message = "Authentication credentials were not provided or the token lacks the scope for this action."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        token = request.auth
        if not hasattr(token, "has_scope"):
            return True  # session login: the UI user acts with their own rights (token auth sets an ApiToken)
        family = getattr(view, "scope", None)
        if family is None:
            return False
        write = f"{family}:write"
        if request.method in permissions.SAFE_METHODS or getattr(view, "reads_only", False):
            if token.has_scope(f"{family}:read") or token.has_scope(write):
                return True
            needed = f"{family}:read"
        elif token.has_scope(write):
            return True
        else:
            needed = write
        # Named, so that whoever holds the token knows which one to ask for (a 403 in the one error shape).
        held = ", ".join(sorted(token.scopes)) or "-"
        if needed != write:
            message = _("This API token lacks the scope %(scope)s (or %(write)s); it holds: %(held)s.")
        else:
            message = _("This API token lacks the scope %(scope)s; it holds: %(held)s.")
        raise PermissionDenied(message % {"scope": needed, "write": write, "held": held}, code="missing_scope",
                               details={"required_scope": needed, "token_scopes": sorted(token.scopes)})
