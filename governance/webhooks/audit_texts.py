"""What the webhook audit events say, and how subscribers are named and linked in the audit log."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy

from governance.audit.describe import ObjectRef, action_text, ids_of, object_refs
from governance.webhooks.models import WebhookSubscriber

action_text("webhook.subscriber_created", gettext_lazy("Webhook subscriber added"),
            gettext_lazy("{actor} added the webhook subscriber {object} ({url})."))
action_text("webhook.subscriber_changed", gettext_lazy("Webhook subscriber changed"),
            gettext_lazy("{actor} changed the webhook subscriber {object}."))
action_text("webhook.secret_rotated", gettext_lazy("Webhook secret rotated"),
            gettext_lazy("{actor} rotated the signing secret of {object}."))


@object_refs.provide
def webhook_refs(events) -> dict:
    return {("governance.webhooksubscriber", str(s.pk)): ObjectRef(
        label=s.name, url=reverse("governance:webhook_detail", args=[s.pk]))
        for s in WebhookSubscriber.objects.filter(pk__in=ids_of(events, "governance.webhooksubscriber"))}
