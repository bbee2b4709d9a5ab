"""Webhook forms (types and choices; the rules are the services')."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from governance.webhooks import events


class SubscriberForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https",
                         help_text=_("An https address that resolves to public addresses only."))
    events = forms.MultipleChoiceField(label=_("Events"), choices=events.family_choices,
                                       widget=forms.CheckboxSelectMultiple, initial=[events.ALL])
