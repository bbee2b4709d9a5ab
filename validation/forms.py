"""UI forms of validation runs. They shape the input of one service call and never write; the start form offers
the passport's datasets and the columns their recorded schemas hold, and ``validation.services.run_start`` decides
whether the run may start."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin, ConditionFormSet, condition_list
from validation.choices import Rating, RunState


def _columns(datasets) -> dict[str, str]:
    """Every column of the datasets' recorded schemas, each once, in the order they first appear, with its type."""
    seen: dict[str, str] = {}
    for dataset in datasets:
        for column in dataset.schema or []:
            if isinstance(column, dict) and column.get("name"):
                seen.setdefault(str(column["name"]), str(column.get("type") or ""))
    return seen


TARGET_TYPES = ("bool", "int", "float")


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return _("%(name)s · rows: %(rows)s") % {"name": obj.name, "rows": f"{obj.row_count:,}"}


class RunStartForm(BootstrapFormMixin, forms.Form):
    """Input of ``validation.services.run_start`` for one version: datasets of its passport, a target column
    (non-feature columns first), an optional segment column and champion version."""

    reference = DatasetChoiceField(label=_("Reference dataset"), queryset=None,
                                   help_text=_("The training sample the validation data is compared with."))
    validation = DatasetChoiceField(label=_("Validation dataset"), queryset=None,
                                    help_text=_("Holdout or out-of-time data the model is scored on."))
    target = forms.ChoiceField(label=_("Target column"))
    segment_column = forms.ChoiceField(label=_("Segment column"), required=False,
                                       help_text=_("Optional: performance is reported per value of this column."))
    champion = forms.ModelChoiceField(label=_("Champion"), queryset=None, required=False,
                                      empty_label=_("The “champion” alias"),
                                      help_text=_("Compared side by side at full depth."))

    def __init__(self, *args, version, datasets, versions, **kwargs):
        super().__init__(*args, **kwargs)
        datasets = datasets.order_by("-created_at", "-pk")
        self.fields["reference"].queryset = datasets
        self.fields["validation"].queryset = datasets
        self.fields["champion"].queryset = versions.exclude(pk=version.pk).order_by("-number")
        self.fields["champion"].label_from_instance = lambda v: f"v{v.number} · {v.get_state_display()}"
        features = {f.get("name") for f in (version.feature_schema or {}).get("features", [])}
        columns = _columns(datasets)
        ordered = [c for c in columns if c not in features] + [c for c in columns if c in features]
        self.fields["target"].choices = [("", _("Select…")), *((c, c) for c in ordered)]
        self.fields["segment_column"].choices = [("", _("None")), *((c, c) for c in columns)]
        if not self.is_bound:
            fitting = [c for c in ordered if c not in features and columns[c] in TARGET_TYPES]
            self._initial_choices(version, datasets, ordered, fitting)

    def _initial_choices(self, version, datasets, ordered: list[str], fitting: list[str]) -> None:
        """Preselect the newest reference and validation datasets, and the target: the passport's declared one, or
        else the only numeric column that is not a feature of the model."""
        by_kind = {}
        for dataset in datasets:
            by_kind.setdefault(dataset.kind, dataset)
        if "reference" in by_kind:
            self.initial.setdefault("reference", by_kind["reference"].pk)
        others = [d for d in datasets if d.kind != "reference"]
        if others:
            self.initial.setdefault("validation", others[0].pk)
        declared = (version.passport.target or "").strip()
        if declared in ordered:
            self.initial.setdefault("target", declared)
        elif len(fitting) == 1:
            self.initial.setdefault("target", fitting[0])


class RunFilterForm(BootstrapFormMixin, forms.Form):
    """GET filters of the runs list; names match ``validation.selectors.run_list``."""

    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("Any state")), *RunState.choices])
    passport = forms.CharField(label=_("Passport key"), required=False, max_length=100)

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


class RatedReportMixin:
    """The rating of a report and, for "fit for use with conditions", its dated conditions (``self.conditions``, a
    formset read only for that rating)."""

    def _init_conditions(self, data, prefix: str) -> None:
        self.conditions = ConditionFormSet(data, prefix=prefix)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.cleaned_data.get("rating") != Rating.FIT_WITH_CONDITIONS:
            return valid
        return self.conditions.is_valid() and valid

    def condition_list(self) -> list[dict]:
        if self.cleaned_data.get("rating") != Rating.FIT_WITH_CONDITIONS:
            return []
        return condition_list(self.conditions)


def rating_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=gettext_lazy("Rating"), choices=Rating.choices, widget=forms.RadioSelect,
        help_text=gettext_lazy("Conditions of a model fit for use with conditions become dated findings owned by "
                               "the technical owner."))


class ReportIssueForm(RatedReportMixin, BootstrapFormMixin, forms.Form):
    conclusion = forms.CharField(
        label=gettext_lazy("Conclusion"), max_length=20000, widget=forms.Textarea(attrs={"rows": 8}),
        help_text=gettext_lazy("Your opinion on the model's fitness for its intended use, with any conditions. "
                               "It is frozen into the report with the results."))

    rating = rating_field()
    language = forms.ChoiceField(
        label=gettext_lazy("Language of the report"), choices=settings.LANGUAGES, required=False,
        help_text=gettext_lazy("The report, its PDF and its charts are written in this language; it is recorded "
                               "with the report."))

    def __init__(self, data=None, *args, skipped: list[dict] = (), **kwargs):
        """``skipped``: the required tests the run skipped (``validation.gaps.run_gaps``): one justification each."""
        super().__init__(data, *args, **kwargs)
        from django.utils.translation import get_language

        self.fields["language"].initial = (get_language() or settings.LANGUAGE_CODE).split("-")[0]
        self._init_conditions(data, "cond")
        self.skipped = list(skipped)
        for gap in self.skipped:
            self.fields[f"exception_{gap['test']}"] = forms.CharField(
                label=gettext_lazy("Exception for '%(test)s'") % {"test": gap["test"]}, required=False,
                max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
                help_text=gettext_lazy("Required by the tier policy but skipped: %(note)s. Justify issuing the "
                                       "report without it; a risk officer must accept it before approval.")
                % {"note": gap["note"]})

    def exceptions(self) -> dict[str, str]:
        return {gap["test"]: self.cleaned_data.get(f"exception_{gap['test']}", "") for gap in self.skipped}


class ExplainForm(BootstrapFormMixin, forms.Form):
    """The explanation page's question: rows of one of the passport's datasets, the algorithm, the scale."""

    dataset = forms.ModelChoiceField(label=_("Dataset"), queryset=None)
    rows = forms.CharField(label=_("Rows to explain"), max_length=2000, initial="1-5",
                           help_text=_("Row numbers and ranges, e.g. 1-20, 57 (1 is the first data row; at most "
                                       "1,000 rows)."))
    algorithm = forms.ChoiceField(label=_("Algorithm"), initial="interventional", required=False, choices=[
        ("interventional", _("Interventional TreeSHAP (against a sample of the reference data)")),
        ("path_dependent", _("Path-dependent TreeSHAP (node covers of the reference data)"))])
    output = forms.ChoiceField(label=_("Scale"), initial="probability", required=False, choices=[
        ("probability", _("Probability")), ("raw", _("Raw score (margin)"))])
    top = forms.IntegerField(label=_("Reason codes a row"), min_value=1, max_value=20, initial=5, required=False)

    def __init__(self, *args, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets
        self.fields["dataset"].label_from_instance = lambda d: f"{d.name} · {d.get_kind_display()} · {d.row_count:,}"
