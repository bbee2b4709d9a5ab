"""Roles (groups) and audit actions."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The groups a data migration creates; their model-level permissions live in ``governance.roles``."""

    MODEL_DEVELOPER = "model_developer", _("Model developer")
    MODEL_OWNER = "model_owner", _("Model owner")
    VALIDATOR = "validator", _("Validator")
    RISK_OFFICER = "risk_officer", _("Risk officer")
    SECURITY = "security", _("Security")
    FINANCE = "finance", _("Finance")
    AUDITOR = "auditor", _("Auditor")
    ENGINEER = "engineer", _("Engineer")
    ADMIN = "admin", _("Administrator")


class TokenScope(models.TextChoices):
    """What an API token may do; each API view names the scope family it needs."""

    REGISTRY_READ = "registry:read", _("Read passports, versions, datasets, aliases")
    REGISTRY_WRITE = "registry:write", _("Create and change passports, versions, datasets, aliases")
    AUDIT_READ = "audit:read", _("Read and verify the audit chain")
    TOKENS_WRITE = "tokens:write", _("Create and revoke own API tokens")
    GOVERNANCE_READ = "governance:read", _("Read reviews, sign-offs, findings, checklists, policies")
    GOVERNANCE_WRITE = "governance:write", _("Submit, assign, validate, sign off, raise findings, answer checklists")
    FINANCE_READ = "finance:read", _("Read ledgers, business cases and the portfolio (where the user may see amounts)")
    FINANCE_WRITE = "finance:write", _("Book and reverse ledger entries, import them, set business cases")


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


class ValidationDepth(models.TextChoices):
    BASIC = "basic", _("Basic: performance and data quality")
    STANDARD = "standard", _("Standard: + stability, calibration, explainability")
    FULL = "full", _("Full: + robustness, segments, champion vs challenger")


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


class LedgerCategory(models.TextChoices):
    """What a ledger entry records. Benefits add to the P&L, costs subtract (see ``BENEFIT_CATEGORIES``)."""

    REVENUE_UPLIFT = "revenue_uplift", _("Revenue uplift")
    COST_SAVING = "cost_saving", _("Cost saving")
    LOSS_AVOIDED = "loss_avoided", _("Loss avoided")
    DEVELOPMENT = "development", _("Development")
    INFRASTRUCTURE = "infrastructure", _("Infrastructure / GPU hours")
    INFERENCE = "inference", _("Inference")
    LICENCES = "licences", _("Licences")
    STAFF = "staff", _("Staff")
    INCIDENT_LOSS = "incident_loss", _("Incident loss")


BENEFIT_CATEGORIES: frozenset[str] = frozenset(
    {LedgerCategory.REVENUE_UPLIFT, LedgerCategory.COST_SAVING, LedgerCategory.LOSS_AVOIDED}
)
COST_CATEGORIES: frozenset[str] = frozenset(set(LedgerCategory.values) - BENEFIT_CATEGORIES)


class LedgerSource(models.TextChoices):
    """Where a ledger entry's figure came from."""

    MANUAL = "manual", _("Manual")
    AB_EXPERIMENT = "ab_experiment", _("A/B experiment")
    SERVING_USAGE = "serving_usage", _("Serving usage")
    IMPORT = "import", _("Import")
