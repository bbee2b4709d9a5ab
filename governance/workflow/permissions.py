"""Governance permission checks: a role-wide workflow permission, exercised on a passport the user may see.

(guardian refuses object checks whose permission belongs to another app, so workflow permissions on a
registry version are asked as role permissions plus visibility of the version's passport.)
"""

from __future__ import annotations

from core.rules import relation
from governance.audit.permissions import VIEW_AUDIT
from governance.workflow.models import ValidatorAssignment
from registry import permissions as registry_perms
from validation.permissions import ASSIGNED

ASSIGN = "governance.assign_validator"
REVOKE = "governance.revoke_approval"
RAISE = "governance.raise_finding"
ACCEPT = "governance.accept_risk"
ANSWER = "governance.answer_checklist"
# Auditor exports (dossier PDF, evidence pack) go to whoever may read the audit chain: auditors, risk officers,
# security and administrators. They read the same records through the audit log already, so no new grant.
EXPORT_EVIDENCE = VIEW_AUDIT


def can(user, perm: str, version) -> bool:
    """True when ``user`` holds the workflow permission ``perm`` and may see ``version``'s passport."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.has_perm(perm) and user.has_perm(registry_perms.VIEW, version.passport)


def can_export_evidence(user, passport) -> bool:
    """True when ``user`` may export the auditor dossier and evidence pack of ``passport`` (which they must see)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.has_perm(EXPORT_EVIDENCE) and user.has_perm(registry_perms.VIEW, passport)


@relation(ASSIGNED)
def _assigned_validator(user, version) -> bool:
    """``user`` is a validator assigned to ``version`` (by a risk officer, through ``validator_assign``)."""
    return ValidatorAssignment.objects.filter(version=version, validator=user).exists()
