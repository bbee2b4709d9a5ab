"""Registry UI forms. They validate and shape input for ``registry.services``; they never save."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin, PrettyJSONField
from governance.accounts.models import BusinessUnit, Team
from registry.choices import DatasetFormat, DatasetKind, RiskTier, VersionState
from registry.models import ModelPassport
from registry.services import PASSPORT_FIELDS, RETIER_FIELDS, TIERING_FIELDS

SORT_KEYS = ("key", "name", "risk_tier", "created_at")


def _user_queryset():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class FastSelect(forms.Select):
    """A single select rendered in Python: Django's per-option templates cost ~0.1 ms an option, and the owner
    filter lists hundreds of people on a large registry."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = "" if value is None else str(value)
        options = format_html_join(
            "", '<option value="{}"{}>{}</option>',
            ((str(v), mark_safe(" selected") if str(v) == selected else "", label) for v, label in self.choices),
        )
        final = self.build_attrs(self.attrs, attrs)
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final), options)


class PassportFilterForm(BootstrapFormMixin, forms.Form):
    """GET filters of the passport list. Owner and business-unit choices come from the visible passports."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200,
                        widget=forms.SearchInput(attrs={"placeholder": _("Key or name")}))
    tier = forms.TypedChoiceField(label=_("Risk tier"), required=False, coerce=int, empty_value=None,
                                  choices=[("", _("Any tier")), *RiskTier.choices])
    owner = forms.ModelChoiceField(label=_("Owner"), required=False, queryset=get_user_model().objects.none(),
                                   empty_label=_("Any owner"), widget=FastSelect)
    state = forms.ChoiceField(label=_("Version state"), required=False,
                              choices=[("", _("Any state")), *VersionState.choices])
    business_unit = forms.ModelChoiceField(label=_("Business unit"), required=False, to_field_name="code",
                                           queryset=BusinessUnit.objects.none(), empty_label=_("Any unit"),
                                           widget=FastSelect)

    def __init__(self, *args, visible_passports, **kwargs):
        super().__init__(*args, **kwargs)
        # One narrow scan of the visible passports' foreign keys, then primary-key lookups: no DISTINCT over
        # joins and no per-row subqueries, so the list stays fast at 10,000 passports.
        keys = visible_passports.order_by().values_list("business_owner_id", "technical_owner_id", "business_unit_id")
        owner_ids, unit_ids = set(), set()
        for business_owner, technical_owner, unit in keys.distinct():
            owner_ids.update((business_owner, technical_owner))
            unit_ids.add(unit)
        self.fields["owner"].queryset = get_user_model().objects.filter(pk__in=owner_ids).order_by("username")
        self.fields["business_unit"].queryset = BusinessUnit.objects.filter(pk__in=unit_ids)

    def filters(self) -> dict:
        """The valid filters, shaped for ``registry.selectors.passport_list``."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "q": data.get("q") or "",
            "tier": data.get("tier"),
            "owner": data["owner"].pk if data.get("owner") else None,
            "state": data.get("state") or None,
            "business_unit": data["business_unit"].code if data.get("business_unit") else None,
        }


class PassportForm(BootstrapFormMixin, forms.ModelForm):
    """Passport fields grouped for display; the risk tier is not asked, the service derives it."""

    stop_limits = PrettyJSONField(label=_("Stop-limits"), required=False, rows=4,
                                  help_text=_('JSON, e.g. {"max_decisions_per_day": 50000}'))
    monitoring_thresholds = PrettyJSONField(label=_("Monitoring thresholds"), required=False, rows=4,
                                            help_text=_('JSON, e.g. {"psi": 0.2, "latency_p95_ms": 150}'))

    fieldsets = (
        (_("Identity"), ("key", "name")),
        (_("Purpose and use"), ("purpose", "intended_use", "out_of_scope_uses")),
        (_("Ownership"), ("business_owner", "technical_owner", "development_team", "business_unit", "contacts")),
        (_("Risk tiering questionnaire"), TIERING_FIELDS),
        (_("Data"), ("personal_data_legal_basis", "data_sources", "features_description", "target")),
        (_("Limits"), ("limitations", "stop_limits", "monitoring_thresholds")),
    )

    class Meta:
        model = ModelPassport
        fields = ("key", *PASSPORT_FIELDS)
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 3}),
            "intended_use": forms.Textarea(attrs={"rows": 3}),
            "out_of_scope_uses": forms.Textarea(attrs={"rows": 2}),
            "contacts": forms.Textarea(attrs={"rows": 2}),
            "personal_data_legal_basis": forms.Textarea(attrs={"rows": 2}),
            "data_sources": forms.Textarea(attrs={"rows": 2}),
            "features_description": forms.Textarea(attrs={"rows": 3}),
            "limitations": forms.Textarea(attrs={"rows": 3}),
            "materiality": forms.RadioSelect,
            "decision_type": forms.RadioSelect,
            "regulatory_exposure": forms.RadioSelect,
        }
        help_texts = {
            "key": _("Permanent identifier used in URLs and the API: lowercase letters, digits and dashes."),
            "materiality": _("How much money or how many customers the model's decisions affect."),
            "decision_type": _("Does the model decide on its own, or does a person review each decision?"),
            "processes_personal_data": _("Tick if the model's inputs include personal data (152-FZ, GDPR)."),
            "regulatory_exposure": _("Whether the decisions fall under regulation (credit, pricing...)."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("business_owner", "technical_owner"):
            self.fields[name].queryset = _user_queryset()
        self.fields["development_team"].queryset = Team.objects.order_by("name")
        self.fields["business_unit"].queryset = BusinessUnit.objects.order_by("name")
        for name in ("materiality", "decision_type", "regulatory_exposure"):  # radios need no blank choice
            self.fields[name].choices = [c for c in self.fields[name].choices if c[0]]

    def clean_stop_limits(self):
        return self.cleaned_data.get("stop_limits") or {}

    def clean_monitoring_thresholds(self):
        return self.cleaned_data.get("monitoring_thresholds") or {}

    def grouped_fields(self) -> list[dict]:
        """One entry per fieldset: legend, bound fields (those this form has), and whether it is the questionnaire."""
        return [
            {"legend": legend, "fields": [self[n] for n in names if n in self.fields],
             "tiering": names == TIERING_FIELDS}
            for legend, names in self.fieldsets
        ]

    def service_kwargs(self) -> dict:
        return {name: self.cleaned_data[name] for name in PASSPORT_FIELDS}


class PassportEditForm(PassportForm):
    """The same fields without the key, which never changes."""

    class Meta(PassportForm.Meta):
        fields = PASSPORT_FIELDS


class PassportRetierForm(PassportForm):
    """Input of ``passport_retier``: the tiering answers and the business owner, and why they change."""

    reason = forms.CharField(label=_("Reason"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Recorded in the audit trail with the old and the new tier."))
    fieldsets = (
        (_("Risk tiering questionnaire"), TIERING_FIELDS),
        (_("Ownership"), ("business_owner",)),
        (_("Reason"), ("reason",)),
    )

    class Meta(PassportForm.Meta):
        fields = RETIER_FIELDS

    def __init__(self, *args, **kwargs):
        # PassportForm's own set-up wants fields this form does not have; the Bootstrap classes are still wanted
        BootstrapFormMixin.__init__(self, *args, **kwargs)
        self.fields["business_owner"].queryset = _user_queryset()
        for name in ("materiality", "decision_type", "regulatory_exposure"):  # radios need no blank choice
            self.fields[name].choices = [c for c in self.fields[name].choices if c[0]]

    def service_kwargs(self) -> dict:
        return {name: self.cleaned_data[name] for name in RETIER_FIELDS}


class TieringForm(forms.Form):
    """The questionnaire alone, for the live tier preview."""

    materiality = forms.ChoiceField(choices=ModelPassport._meta.get_field("materiality").choices)
    decision_type = forms.ChoiceField(choices=ModelPassport._meta.get_field("decision_type").choices)
    processes_personal_data = forms.BooleanField(required=False)
    regulatory_exposure = forms.ChoiceField(choices=ModelPassport._meta.get_field("regulatory_exposure").choices)


class VersionUploadForm(BootstrapFormMixin, forms.Form):
    """Input of ``registry.services.version_register``; dataset and parent choices are the passport's own."""

    artifact = forms.FileField(label=_("ONNX file"), widget=forms.ClearableFileInput(attrs={"accept": ".onnx"}))
    feature_names = forms.CharField(
        label=_("Feature names"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional. Comma- or newline-separated, in input order; default x0, x1, ..."),
    )
    change_description = forms.CharField(label=_("Change description"), required=False,
                                         widget=forms.Textarea(attrs={"rows": 3}))
    training_dataset = forms.ModelChoiceField(label=_("Training dataset"), required=False, queryset=None,
                                              empty_label=_("None"))
    parent = forms.ModelChoiceField(label=_("Parent version"), required=False, queryset=None, empty_label=_("None"))
    metrics = PrettyJSONField(label=_("Developer-reported metrics"), required=False, rows=3,
                              help_text=_('Optional JSON object of numbers, e.g. {"auc": 0.81, "f1": 0.64}'))

    def __init__(self, *args, datasets, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["training_dataset"].queryset = datasets
        self.fields["parent"].queryset = versions
        self.fields["parent"].label_from_instance = lambda v: f"v{v.number} ({v.get_state_display()})"

    def clean_feature_names(self) -> list[str] | None:
        names = [n.strip() for n in re.split(r"[,\n]", self.cleaned_data.get("feature_names") or "")]
        return [n for n in names if n] or None

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "upload": data["artifact"], "feature_names": data["feature_names"],
            "training_dataset": data["training_dataset"], "parent": data["parent"],
            "metrics": data["metrics"],
            "change_description": data["change_description"],
        }


class SchemaRefineForm(BootstrapFormMixin, forms.Form):
    feature_schema = PrettyJSONField(
        label=_("Feature schema"), rows=16,
        help_text=_("Rename features and add min / max, categories, nullable and description. "
                    "The number of features and their order come from the artifact."),
    )


class DatasetUploadForm(BootstrapFormMixin, forms.Form):
    file = forms.FileField(label=_("File"), widget=forms.ClearableFileInput(attrs={"accept": ".csv,.parquet,.pq"}))
    name = forms.CharField(label=_("Name"), max_length=200, required=False,
                           help_text=_("Defaults to the start of the file's digest."))
    kind = forms.ChoiceField(label=_("Kind"), choices=DatasetKind.choices)
    fmt = forms.ChoiceField(label=_("Format"), required=False,
                            choices=[("", _("Detect from file name")), *DatasetFormat.choices])


class AliasForm(BootstrapFormMixin, forms.Form):
    name = forms.SlugField(label=_("Alias"), max_length=50,
                           widget=forms.TextInput(attrs={"placeholder": "champion", "list": "alias-names"}))
    version = forms.ModelChoiceField(label=_("Version"), queryset=None, empty_label=None)

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = versions
        self.fields["version"].label_from_instance = lambda v: f"v{v.number} ({v.get_state_display()})"


class MlflowImportForm(BootstrapFormMixin, forms.Form):
    model_uri = forms.CharField(label=_("MLflow model"), max_length=500,
                                help_text=_("models:/name/3, models:/name@champion or runs:/<run id>/model"))
    tracking_uri = forms.ChoiceField(label=_("Tracking server"))
    tolerance = forms.FloatField(label=_("Parity tolerance"), min_value=0, max_value=1, initial=1e-4,
                                 help_text=_("Largest difference allowed between the converted model's predictions "
                                             "and the original's on its input example."))

    def __init__(self, *args, servers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tracking_uri"].choices = [(uri, uri) for uri in servers]


class MlflowFollowForm(BootstrapFormMixin, forms.Form):
    prefix = "follow"
    registered_model = forms.CharField(label=_("Registered model"), max_length=256,
                                       help_text=_("Its name as MLflow shows it; each version registered from now on "
                                                   "is imported as a draft."))
    tracking_uri = forms.ChoiceField(label=_("Tracking server"))
    tolerance = forms.FloatField(label=_("Parity tolerance"), min_value=0, max_value=1, initial=1e-4)

    def __init__(self, *args, servers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tracking_uri"].choices = [(uri, uri) for uri in servers]
