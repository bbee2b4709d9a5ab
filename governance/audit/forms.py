"""Audit log page forms."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin


class AuditFilterForm(BootstrapFormMixin, forms.Form):
    """GET filters of the audit log; names match ``governance.audit.selectors.audit_event_list``."""

    action = forms.CharField(
        label=_("Action"), required=False, max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. version. or passport.created"), "list": "audit-actions"}),
    )
    passport = forms.CharField(label=_("Passport key"), required=False, max_length=100)
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150,
                            widget=forms.TextInput(attrs={"placeholder": _("username")}))
