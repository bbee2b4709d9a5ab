"""Serving UI forms. They validate and shape input for ``serving.services``; they never save."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin
from registry.choices import VersionState
from serving.choices import CHALLENGER_STRATEGIES, Environment, PolicyAction, Strategy
from serving.models import Host


class EnrolmentTokenForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100,
                           help_text=_("Which host it is for, e.g. the rack and slot."))
    ttl_hours = forms.IntegerField(label=_("Valid for (hours)"), min_value=1, max_value=24 * 30, initial=24)


class ReasonForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


def _version_choices(passport) -> list[tuple[int, str]]:
    versions = passport.versions.filter(state=VersionState.APPROVED).order_by("-number")
    return [(v.number, _("v%(n)s, approved until %(date)s")
             % {"n": v.number, "date": f"{v.approval_expires_at:%Y-%m-%d}"}) for v in versions]


class DeploymentForm(BootstrapFormMixin, forms.Form):
    version = forms.TypedChoiceField(label=_("Version (champion)"), coerce=int)
    environment = forms.ChoiceField(label=_("Environment"), choices=Environment.choices)
    hosts = forms.ModelMultipleChoiceField(label=_("Hosts"), queryset=Host.objects.none(),
                                           widget=forms.CheckboxSelectMultiple)
    strategy = forms.ChoiceField(label=_("Strategy"), choices=Strategy.choices, initial=Strategy.FULL)
    challenger = forms.TypedChoiceField(label=_("Challenger"), coerce=int, required=False, empty_value=None)
    canary_percent = forms.IntegerField(label=_("Canary share (%)"), min_value=0, max_value=50, initial=10,
                                        required=False)
    personal_data_columns = forms.MultipleChoiceField(
        label=_("Personal-data columns to mask in prediction logs"), required=False,
        widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, passport, **kwargs):
        super().__init__(*args, **kwargs)
        choices = _version_choices(passport)
        self.fields["version"].choices = choices
        self.fields["challenger"].choices = [("", _("None")), *choices]
        self.fields["hosts"].queryset = Host.objects.filter(revoked_at__isnull=True).order_by("name")
        newest = passport.versions.filter(state=VersionState.APPROVED).order_by("-number").first()
        features = (newest.feature_schema or {}).get("features", []) if newest else []
        self.fields["personal_data_columns"].choices = [(f["name"], f["name"]) for f in features]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        strategy = data["strategy"]
        return {"version": data["version"], "environment": data["environment"],
                "hosts": [h.pk for h in data["hosts"]], "strategy": strategy,
                "challenger": data.get("challenger") if strategy != Strategy.FULL else None,
                "canary_percent": (data.get("canary_percent") or 0) if strategy == Strategy.CANARY else 0,
                "personal_data_columns": data.get("personal_data_columns") or []}


class ChallengerForm(BootstrapFormMixin, forms.Form):
    version = forms.TypedChoiceField(label=_("Challenger"), coerce=int)
    strategy = forms.ChoiceField(label=_("Strategy"), choices=CHALLENGER_STRATEGIES)
    canary_percent = forms.IntegerField(label=_("Canary share (%)"), min_value=0, max_value=50, initial=10,
                                        required=False)

    def __init__(self, *args, deployment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [c for c in _version_choices(deployment.passport)
                                          if c[0] != deployment.version.number]


class PolicyForm(BootstrapFormMixin, forms.Form):
    on_alert = forms.ChoiceField(label=_("When a drift, latency or error alert fires"), choices=PolicyAction.choices,
                                 widget=forms.RadioSelect)


class NoteForm(BootstrapFormMixin, forms.Form):
    note = forms.CharField(label=_("Note"), max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class ResolutionForm(BootstrapFormMixin, forms.Form):
    resolution = forms.CharField(label=_("Resolution"), max_length=5000,
                                 help_text=_("What was found and what was done."),
                                 widget=forms.Textarea(attrs={"rows": 3}))


RANGES = {"1h": (_("Last hour"), 1 / 24), "24h": (_("Last 24 hours"), 1), "7d": (_("Last 7 days"), 7),
          "30d": (_("Last 30 days"), 30)}
