"""One place decides object permissions: global (role) permissions, guardian grants, then relation rules.

``user.has_perm(perm, obj)`` asks Django's ModelBackend (which answers only without an object), guardian's
ObjectPermissionBackend (explicit per-object grants) and this backend, which (1) lets a role-wide permission
cover every object and (2) applies the relation rules each app registers in its ``permissions.py``
(owners, team members). The UI and the API both call ``has_perm``.
"""

from __future__ import annotations

from collections.abc import Callable

RULES: dict[str, Callable] = {}


def rule(perm: str):
    """Register ``func(user, obj) -> bool`` as the relation rule for ``perm``."""

    def decorator(func):
        RULES[perm] = func
        return func

    return decorator


class RuleBackend:
    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user, perm: str, obj=None) -> bool:
        if obj is None or not user.is_active or user.is_anonymous:
            return False
        if user.has_perm(perm):  # a role-wide permission covers every object
            return True
        check = RULES.get(perm)
        return bool(check and check(user, obj))
