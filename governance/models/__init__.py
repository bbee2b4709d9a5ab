"""Governance models: people and organisation, audit chain, API tokens (core) and the approval workflow."""

from governance.models.core import ApiToken, AuditChainHead, AuditEvent, BusinessUnit, Team, User
from governance.models.ledger import BusinessCase, LedgerEntry, LedgerYearTotal, PlanLine
from governance.models.workflow import (
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
]
