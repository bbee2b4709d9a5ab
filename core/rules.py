"""One place decides object permissions: global (role) permissions, guardian grants, then relation rules.

``user.has_perm(perm, obj)`` asks Django's ModelBackend (which answers only without an object), guardian's
ObjectPermissionBackend (explicit per-object grants) and this backend, which (1) lets a role-wide permission
cover every object and (2) applies the relation rules each app registers in its ``permissions.py``
(owners, team members). The UI and the API both call ``has_perm``.

Some questions are facts about a relation rather than grants: "is this user the validator assigned to this
version", "is this user on the passport's development team". Segregation of duties depends on them, so no role,
grant or superuser flag may answer them. They are registered with :func:`relation` and the user model asks them
first (``governance.accounts.models.User.has_perm``), bypassing every shortcut.
"""

from __future__ import annotations

from collections.abc import Callable

RULES: dict[str, Callable] = {}
RELATIONS: dict[str, Callable] = {}


def rule(perm: str):
    """Register ``func(user, obj) -> bool`` as the relation rule for ``perm``."""

    def decorator(func):
        RULES[perm] = func
        return func

    return decorator


def relation(perm: str):
    """Register ``func(user, obj) -> bool`` as the only answer to ``perm``: no role, grant or superuser covers it.

    A room below the one that knows the relation may declare the name and ask ``user.has_perm(perm, obj)``; the
    room that knows it registers the function at import time of its ``permissions`` module.
    """

    def decorator(func):
        RELATIONS[perm] = func
        return func

    return decorator


def is_relation(perm: str) -> bool:
    return perm in RELATIONS


def check_relation(user, perm: str, obj) -> bool:
    """The relation's answer for an active, authenticated user and an object; False otherwise."""
    if obj is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(RELATIONS[perm](user, obj))


class RuleBackend:
    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user, perm: str, obj=None) -> bool:
        if obj is None or not user.is_active or user.is_anonymous or perm in RELATIONS:
            return False
        if user.has_perm(perm):  # a role-wide permission covers every object
            return True
        check = RULES.get(perm)
        return bool(check and check(user, obj))
