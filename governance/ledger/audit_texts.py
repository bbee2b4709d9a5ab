"""What the ledger's audit events say, and how entries and business cases are named and linked in the audit log."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.audit.describe import ObjectRef, action_text, ids_of, object_refs, value_labels
from governance.ledger.choices import LedgerCategory, LedgerSource
from governance.ledger.models import BusinessCase, LedgerEntry

action_text("ledger.entry_booked", gettext_lazy("Ledger entry booked"),
            gettext_lazy("{actor} booked {object}: {category}, {amount} {currency} for {period}."))
action_text("ledger.entry_reversed", gettext_lazy("Ledger entry reversed"),
            gettext_lazy("{actor} reversed entry #{reversal_of} with {object}: {reason}"))
action_text("ledger.business_case_set", gettext_lazy("Business case set"),
            gettext_lazy("{actor} set {object}."))


@object_refs.provide
def ledger_refs(events) -> dict:
    refs = {}
    for entry in LedgerEntry.objects.filter(pk__in=ids_of(events, "governance.ledgerentry")).select_related(
            "passport").only("passport__key"):
        refs["governance.ledgerentry", str(entry.pk)] = ObjectRef(
            label=_("ledger entry #%(pk)s") % {"pk": entry.pk},
            url=reverse("governance:passport_ledger", args=[entry.passport.key]) + f"#entry-{entry.pk}")
    for case in BusinessCase.objects.filter(pk__in=ids_of(events, "governance.businesscase")).select_related(
            "passport").only("passport__key"):
        refs["governance.businesscase", str(case.pk)] = ObjectRef(
            label=_("the business case of %(key)s") % {"key": case.passport.key},
            url=reverse("governance:business_case", args=[case.passport.key]))
    return refs


@value_labels.provide
def ledger_values() -> dict:
    return {"category": dict(LedgerCategory.choices), "source": dict(LedgerSource.choices)}
