"""Registry choices: version lifecycle states (moved only by governance services), tiers, dataset kinds."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class VersionState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    IN_VALIDATION = "in_validation", _("In validation")
    VALIDATED = "validated", _("Validated")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    REVOKED = "revoked", _("Revoked")
    RETIRED = "retired", _("Retired")


# The one transition map of DESIGN.md; governance services consult it before moving a version.
VERSION_TRANSITIONS: dict[str, frozenset[str]] = {
    VersionState.DRAFT: frozenset({VersionState.SUBMITTED}),
    VersionState.SUBMITTED: frozenset({VersionState.IN_VALIDATION, VersionState.REJECTED}),
    VersionState.IN_VALIDATION: frozenset({VersionState.VALIDATED, VersionState.REJECTED}),
    VersionState.VALIDATED: frozenset({VersionState.APPROVED, VersionState.REJECTED}),
    VersionState.APPROVED: frozenset({VersionState.RETIRED, VersionState.REVOKED}),
    VersionState.REJECTED: frozenset(),
    VersionState.REVOKED: frozenset(),
    VersionState.RETIRED: frozenset(),
}
# Named stretches of the lifecycle above; the workflow's guards and validation's read these, never their own lists.
REVIEW_STATES: frozenset[str] = frozenset({VersionState.SUBMITTED, VersionState.IN_VALIDATION, VersionState.VALIDATED})
VALIDATION_STATES: frozenset[str] = frozenset({VersionState.IN_VALIDATION, VersionState.VALIDATED})
ASSIGNABLE_STATES: frozenset[str] = frozenset({VersionState.SUBMITTED, VersionState.IN_VALIDATION})
FINDING_STATES: frozenset[str] = REVIEW_STATES | {VersionState.APPROVED}


class RiskTier(models.IntegerChoices):
    HIGH = 1, _("Tier 1 (high)")
    MEDIUM = 2, _("Tier 2 (medium)")
    LOW = 3, _("Tier 3 (low)")


class DecisionType(models.TextChoices):
    AUTOMATED = "automated", _("Automated")
    HUMAN_IN_THE_LOOP = "human_in_the_loop", _("Human in the loop")


class Materiality(models.TextChoices):
    LOW = "low", _("Low: small amounts, few customers")
    MEDIUM = "medium", _("Medium: material to one business unit")
    HIGH = "high", _("High: material to the company or to customers")


class RegulatoryExposure(models.TextChoices):
    NONE = "none", _("None")
    MODERATE = "moderate", _("Moderate: internal policy, reporting")
    HIGH = "high", _("High: credit, pricing or other regulated decisions")


class DatasetKind(models.TextChoices):
    REFERENCE = "reference", _("Reference (training sample)")
    VALIDATION = "validation", _("Validation (holdout / out-of-time)")
    OTHER = "other", _("Other")


class DatasetFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"
