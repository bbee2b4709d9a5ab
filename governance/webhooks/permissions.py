"""Who sees and who manages webhooks: administrators manage them; auditors read subscribers and delivery logs."""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.guards import ALLOWED, Verdict, person

VIEW_WEBHOOKS = "governance.view_webhooksubscriber"
MANAGE_WEBHOOKS = "governance.change_webhooksubscriber"


def manage(actor) -> Verdict:
    if not actor.has_perm(MANAGE_WEBHOOKS):
        return person(_("Only an administrator may add, change or test webhook subscribers and redeliver."))
    return ALLOWED


def can_view(actor) -> bool:
    return actor.has_perm(VIEW_WEBHOOKS)
