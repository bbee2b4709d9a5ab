"""What the ledger shows on the registry's pages (registry.hooks); connected at start-up
(``governance.apps.GovernanceConfig.ready``)."""

from __future__ import annotations

from governance.ledger.permissions import can_view_ledger
from registry import hooks as registry_hooks


@registry_hooks.passport_abilities.provide
def ledger_ability(user, passport) -> dict:
    return {"ledger": can_view_ledger(user, passport)}
