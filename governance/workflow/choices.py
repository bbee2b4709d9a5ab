"""Roles (groups) and audit actions."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class SignoffRole(models.TextChoices):
    """The hats a sign-off can be given in; a tier policy lists which an approval needs."""

    VALIDATOR = "validator", _("Validator")
    RISK_OFFICER = "risk_officer", _("Risk officer")
    SECURITY = "security", _("Security")
    BUSINESS_OWNER = "business_owner", _("Business owner")


class Decision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    APPROVE_WITH_CONDITIONS = "approve_with_conditions", _("Approve with conditions")
    REJECT = "reject", _("Reject")




class FindingSeverity(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class FindingStatus(models.TextChoices):
    OPEN = "open", _("Open")
    REMEDIATED = "remediated", _("Remediated")
    RISK_ACCEPTED = "risk_accepted", _("Risk accepted")


FINDING_TRANSITIONS: dict[str, frozenset[str]] = {
    FindingStatus.OPEN: frozenset({FindingStatus.REMEDIATED, FindingStatus.RISK_ACCEPTED}),
    FindingStatus.REMEDIATED: frozenset({FindingStatus.OPEN}),
    FindingStatus.RISK_ACCEPTED: frozenset({FindingStatus.OPEN}),
}


class ChecklistStatus(models.TextChoices):
    UNANSWERED = "unanswered", _("Unanswered")
    MITIGATED = "mitigated", _("Mitigated")
    PARTIALLY_MITIGATED = "partially_mitigated", _("Partially mitigated")
    OPEN = "open", _("Open")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


# --- Finance: the ROI / P&L ledger -----------------------------------------------------------------------------








class TestAcceptanceKind(models.TextChoices):
    """Why a test of a report needs a risk officer's acceptance."""

    __test__ = False

    FAILED = "failed", _("Failed")
    EXCEPTED = "excepted", _("Skipped under an exception")
