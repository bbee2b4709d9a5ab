"""Relation rules for registry objects: owners and development-team members act on their passports.

Versions, datasets and aliases are judged by their passport.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from guardian.shortcuts import get_objects_for_user

from core.errors import PermissionDenied
from core.rules import relation, rule
from registry.models import ModelPassport

VIEW = "registry.view_modelpassport"
CHANGE = "registry.change_modelpassport"
UPLOAD = "registry.upload_version_modelpassport"
MOVE_ALIAS = "registry.move_alias_modelpassport"
CREATE = "registry.add_modelpassport"
# Role-wide (risk officers, administrators): the tier decides the sign-offs a version needs, so the team that
# builds a model never sets it (registry.services.passport_retier).
RETIER = "registry.retier_modelpassport"
# A relation, not a grant (no role or superuser flag answers it): segregation of duties asks it.
TEAM_MEMBER = "registry.develops_passport"


def _passport(obj):
    return getattr(obj, "passport", obj)


def is_owner(user, passport) -> bool:
    return user.pk in (passport.business_owner_id, passport.technical_owner_id)


@relation(TEAM_MEMBER)
def _develops(user, obj) -> bool:
    """``user`` is a member of the development team of ``obj``'s passport (a passport, version, dataset...)."""
    return _passport(obj).development_team.members.filter(pk=user.pk).exists()


def in_team(user, passport) -> bool:
    return user.has_perm(TEAM_MEMBER, passport)


@rule(VIEW)
def _can_view(user, obj) -> bool:
    passport = _passport(obj)
    return is_owner(user, passport) or in_team(user, passport)


@rule(CHANGE)
def _can_change(user, obj) -> bool:
    return is_owner(user, _passport(obj))


@rule(UPLOAD)
def _can_upload(user, obj) -> bool:
    passport = _passport(obj)
    return user.pk == passport.technical_owner_id or in_team(user, passport)


@rule(MOVE_ALIAS)
def _can_move_alias(user, obj) -> bool:
    passport = _passport(obj)
    return is_owner(user, passport) or in_team(user, passport)


def visible_passport_filter(user) -> Q | None:
    """A Q limiting passports to those ``user`` may view; None means all of them."""
    if user.has_perm(VIEW):
        return None
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])

    granted = get_objects_for_user(
        user, VIEW, klass=ModelPassport, accept_global_perms=False, with_superuser=False
    ).values("pk")
    # Teams through the membership table: a join on development_team__members would duplicate rows and force
    # callers into a ``pk IN (self-join)``; a team-id subquery keeps the condition a plain filter.
    teams = ModelPassport.development_team.field.related_model.members.through.objects.filter(
        user_id=user.pk).values("team_id")
    return (
        Q(business_owner_id=user.pk) | Q(technical_owner_id=user.pk) | Q(development_team_id__in=teams)
        | Q(pk__in=granted)
    )


def restrict_passports(qs: QuerySet, user, *, prefix: str = "") -> QuerySet:
    """Limit a queryset (of passports, or of rows with a ``passport`` FK when prefix='passport__')."""
    condition = visible_passport_filter(user)
    if condition is None:
        return qs
    if prefix:

        return qs.filter(**{f"{prefix}in": ModelPassport.objects.filter(condition).values("pk")})
    return qs.filter(condition)  # no joins in the condition: filtering in place cannot duplicate rows


def require(user, perm: str, obj, action) -> None:
    """Raise PermissionDenied naming ``action`` (a translated phrase) unless ``user`` holds ``perm`` on ``obj``."""
    if not user.has_perm(perm, obj):
        raise PermissionDenied(_("You may not %(action)s for passport '%(key)s'.")
                               % {"action": action, "key": _passport(obj).key})
