"""Changes to who may do what, wherever they are made (the admin above all), land in the audit chain.

Roles (group membership), direct permissions, object permissions (django-guardian grants such as a finance user's
business unit), development-team membership and the superuser / staff / active flags decide segregation of duties
and who sees what, so each change appends an event naming the person who made it (the signed-in user of the
request, else the platform). Connected at start-up (``governance.apps.GovernanceConfig.ready``); each event is
written in the transaction of the change.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from guardian.models import GroupObjectPermission, UserObjectPermission

from core.actors import SYSTEM
from core.context import request_var
from governance.accounts.models import Team, User
from governance.audit.services import audit_append

FLAGS = ("is_superuser", "is_staff", "is_active")


def _actor():
    user = getattr(request_var.get(), "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else SYSTEM


def _record(action: str, obj, **data) -> None:
    with transaction.atomic():
        audit_append(actor=_actor(), action=action, obj=obj, data=data)


def _pairs(instance, model, pk_set, forward_model):
    """(forward object, [related names]) pairs of an m2m change seen from either side."""
    if isinstance(instance, forward_model):
        return [(instance, sorted(str(o) for o in model.objects.filter(pk__in=pk_set)))]
    return [(obj, [str(instance)]) for obj in forward_model.objects.filter(pk__in=pk_set)]


def _m2m(action_prefix: str, verbs: dict[str, str], model, forward_model, key: str):
    def handler(sender, instance, action, reverse, model, pk_set, **kwargs):
        if action == "pre_clear":  # the rows are gone after the clear: name them now
            instance._cleared = _pairs(instance, model, _current(instance, sender), forward_model)
            return
        if action == "post_clear":
            for obj, names in getattr(instance, "_cleared", []):
                _record(f"{action_prefix}.{verbs['post_remove']}", obj, **{key: names})
            return
        if action not in verbs or not pk_set:
            return
        for obj, names in _pairs(instance, model, pk_set, forward_model):
            _record(f"{action_prefix}.{verbs[action]}", obj, **{key: names})
    return handler


def _current(instance, through) -> list[int]:
    fields = [f for f in through._meta.fields if f.is_relation]
    own = next(f for f in fields if f.related_model is type(instance))
    other = next(f for f in fields if f is not own)
    return list(through.objects.filter(**{own.name: instance.pk}).values_list(other.attname, flat=True))


_roles = _m2m("user", {"post_add": "roles_granted", "post_remove": "roles_revoked"}, Group, User, "roles")
_perms = _m2m("user", {"post_add": "permissions_granted", "post_remove": "permissions_revoked"}, Permission, User,
              "permissions")
_team = _m2m("team", {"post_add": "members_added", "post_remove": "members_removed"}, User, Team, "members")
m2m_changed.connect(_roles, sender=User.groups.through, dispatch_uid="audit.user_groups")
m2m_changed.connect(_perms, sender=User.user_permissions.through, dispatch_uid="audit.user_permissions")
m2m_changed.connect(_team, sender=Team.members.through, dispatch_uid="audit.team_members")


@receiver(pre_save, sender=User, dispatch_uid="audit.user_flags_before")
def _flags_before(sender, instance: User, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        instance._flags_before = None
        return
    instance._flags_before = User.objects.filter(pk=instance.pk).values(*FLAGS).first()


@receiver(post_save, sender=User, dispatch_uid="audit.user_flags_after")
def _flags_after(sender, instance: User, created: bool, raw=False, **kwargs) -> None:
    before = getattr(instance, "_flags_before", None)
    if raw or created or not before:
        return
    changed = {flag: getattr(instance, flag) for flag in FLAGS if before[flag] != getattr(instance, flag)}
    if changed:
        _record("user.flags_changed", instance, **changed)


def _object_permission(granted: bool):
    def handler(sender, instance, created=True, raw=False, **kwargs) -> None:
        if raw or (granted and not created):
            return
        holder = getattr(instance, "user", None) or getattr(instance, "group", None)
        _record("object_permission.granted" if granted else "object_permission.revoked", holder,
                permission=instance.permission.codename, object_type=instance.content_type.model,
                object_id=str(instance.object_pk), holder=str(holder))
    return handler


for _model in (UserObjectPermission, GroupObjectPermission):
    post_save.connect(_object_permission(True), sender=_model, dispatch_uid=f"audit.{_model.__name__}.granted",
                      weak=False)
    post_delete.connect(_object_permission(False), sender=_model, dispatch_uid=f"audit.{_model.__name__}.revoked",
                        weak=False)
