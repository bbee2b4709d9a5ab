"""Governance models: people and organisation, audit chain, API tokens (core) and the approval workflow."""

from .core import ApiToken, AuditChainHead, AuditEvent, BusinessUnit, Team, User
from .workflow import ChecklistItem, Finding, RiskTierPolicy, SignOff, ValidatorAssignment, VersionReview

__all__ = [
    "ApiToken", "AuditChainHead", "AuditEvent", "BusinessUnit", "Team", "User",
    "ChecklistItem", "Finding", "RiskTierPolicy", "SignOff", "ValidatorAssignment", "VersionReview",
]
