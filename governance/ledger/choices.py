"""Ledger categories (benefits and costs) and where an entry's figure came from."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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
