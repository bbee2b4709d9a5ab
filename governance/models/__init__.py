"""Every governance room's models, gathered for Django's app registry (app label `governance`).

Import a model from its room (`governance.accounts.models`, ...), never from here."""

from governance.accounts.models import ApiToken, BusinessUnit, Team, User
from governance.audit.models import AuditChainHead, AuditEvent
from governance.jobs.models import Job
from governance.ledger.models import BusinessCase, LedgerEntry, LedgerYearTotal, PlanLine
from governance.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscriber
from governance.workflow.models import (
    ChecklistItem,
    Finding,
    RiskTierPolicy,
    SignOff,
    ValidatorAssignment,
    VersionReview,
)

__all__ = [
    "ApiToken", "AuditChainHead", "AuditEvent", "BusinessUnit", "Team", "User",
    "ChecklistItem", "Finding", "RiskTierPolicy", "SignOff", "ValidatorAssignment", "VersionReview",
    "BusinessCase", "LedgerEntry", "LedgerYearTotal", "PlanLine",
    "Job", "WebhookAttempt", "WebhookDelivery", "WebhookSubscriber",
]
