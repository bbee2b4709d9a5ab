"""Roles (the groups a data migration creates) and API token scopes."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The groups a data migration creates; their model-level permissions live in ``governance.accounts.roles``."""

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
    SERVING_READ = "serving:read", _("Read serving hosts and deployments")
    SERVING_WRITE = "serving:write", _("Deploy, promote, roll back and stop; manage hosts (administrators)")
    FINANCE_WRITE = "finance:write", _("Book and reverse ledger entries, import them, set business cases")
    WEBHOOKS_READ = "webhooks:read", _("Read webhook subscribers and their delivery logs")
    WEBHOOKS_WRITE = "webhooks:write", _("Add, change and test webhook subscribers, redeliver (administrators)")
