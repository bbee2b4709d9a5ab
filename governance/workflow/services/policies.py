"""Risk-tier policies, edited by administrators. Versions keep the snapshot taken when they were submitted."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import DomainError, PermissionDenied, validate_model
from governance.audit.services import audit_append
from governance.workflow.choices import SignoffRole
from governance.workflow.models import RiskTierPolicy

EDITABLE = ("required_roles", "checklist_required", "validation_depth", "approval_validity_months")


def policy_check_roles(roles) -> None:
    """Raise DomainError unless ``roles`` is a non-empty list of distinct sign-off roles with the validator in it
    (the admin form calls this too, so a bad value is shown on the form and nothing is saved)."""
    valid = isinstance(roles, list) and roles and not set(roles) - set(SignoffRole.values)
    if not valid or len(set(roles)) != len(roles):
        raise DomainError(_("required_roles must be distinct values among %(roles)s.")
                          % {"roles": ", ".join(SignoffRole.values)}, code="invalid", field="required_roles")
    if SignoffRole.VALIDATOR not in roles:
        raise DomainError(_("Every tier needs an independent validator's sign-off."), code="invalid",
                          field="required_roles")


@transaction.atomic(durable=True)
def policy_update(*, actor: Actor, policy: RiskTierPolicy, **fields) -> RiskTierPolicy:
    """Change a tier's policy (administrators); applies to versions submitted from now on."""
    if not actor.has_perm("governance.change_risktierpolicy"):
        raise PermissionDenied(_("Only an administrator may change approval policies."))
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise DomainError(_("Unknown policy fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))},
                          code="invalid")
    policy = RiskTierPolicy.objects.select_for_update(no_key=True).get(pk=policy.pk)
    policy_check_roles(fields.get("required_roles", policy.required_roles))
    old = policy.snapshot()
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.updated_by, policy.updated_at = actor, timezone.now()
    validate_model(policy)
    policy.save()
    audit_append(actor=actor, action="policy.changed", obj=policy, data={"old": old, "new": policy.snapshot()})
    return policy
