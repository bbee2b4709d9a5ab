"""Audit log page forms."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin, DateInput
from governance.audit.describe import action_choices


class AuditFilterForm(BootstrapFormMixin, forms.Form):
    """GET filters of the audit log; names match ``governance.audit.selectors.audit_event_list``.

    ``actions``: the actions that occur, offered grouped by what they concern; a value outside them (an old
    bookmark) is still accepted as a prefix, as the API accepts it.
    """

    action = forms.CharField(label=_("Action"), required=False, max_length=100, widget=forms.Select)
    passport = forms.CharField(label=_("Passport key"), required=False, max_length=100,
                               widget=forms.TextInput(attrs={"list": "audit-passports", "autocomplete": "off"}))
    actor = forms.CharField(label=_("Actor"), required=False, max_length=200,
                            widget=forms.TextInput(attrs={"placeholder": _("username"), "list": "audit-actors",
                                                          "autocomplete": "off"}))
    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput)
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput)

    def __init__(self, *args, actions=(), **kwargs):
        super().__init__(*args, **kwargs)
        current = (self.data.get("action") or "").strip()[:100] if self.is_bound else ""
        self.fields["action"].widget.choices = [("", _("Any action")), *action_choices(actions, current)]

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data
