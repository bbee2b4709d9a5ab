"""Validation-run API serializers. Input serializers check types only; ``validation.services.run_start`` owns every
business rule (who may start, which datasets, which columns). Output serializers render a run, its per-test
summary and its results."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import MAX_ID
from validation.choices import CheckStatus, Outcome, RunState, RunStep
from validation.models import ValidationRun


class RunCreateSerializer(serializers.Serializer):
    """Input of ``validation.services.run_start``: the version by passport key and number, the datasets by id."""

    passport = serializers.CharField(max_length=100, help_text="Key of the passport.")
    version = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="Version number (in validation).")
    reference = serializers.IntegerField(min_value=1, max_value=MAX_ID,
                                         help_text="Id of the reference dataset (training sample) of the passport.")
    validation = serializers.IntegerField(min_value=1, max_value=MAX_ID,
                                          help_text="Id of the validation dataset (holdout or out-of-time).")
    target = serializers.CharField(max_length=200, help_text="Target column, present in both datasets.")
    segment_column = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                           help_text="Column of the validation dataset to report performance by.")
    champion = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None,
                                        help_text="Version number to compare with; default: the `champion` alias.")


class DatasetRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    sha256 = serializers.CharField(read_only=True)
    rows = serializers.IntegerField(source="row_count", read_only=True)


class CheckSummarySerializer(serializers.Serializer):
    """One test of a finished run: its status and its headline metric against its threshold."""

    name = serializers.CharField()
    status = serializers.ChoiceField(choices=CheckStatus.choices)
    passed = serializers.BooleanField(allow_null=True, help_text="null: reported without a threshold, or skipped.")
    headline = serializers.CharField(allow_null=True, help_text="Name of the headline metric.")
    value = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    op = serializers.CharField(allow_null=True, help_text="`>=` or `<=`: how the value must compare.")
    note = serializers.CharField(allow_blank=True)


def check_summary(results: dict) -> list[dict]:
    """The per-test summary of a run's results, in run order."""
    tests = results.get("tests") or {}
    order = results.get("order") or list(tests)
    return [{"name": name, "status": tests[name].get("status"), "passed": tests[name].get("passed"),
             "headline": tests[name].get("headline"), "value": tests[name].get("value"),
             "threshold": tests[name].get("threshold"), "op": tests[name].get("op"),
             "note": tests[name].get("note") or ""} for name in order if name in tests]


class RunListSerializer(serializers.ModelSerializer):
    """A run as lists show it: where it stands (state, step, progress) and its verdict; no results."""

    passport = serializers.CharField(source="version.passport.key", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    reference = DatasetRefSerializer(read_only=True)
    validation = DatasetRefSerializer(read_only=True)
    champion = serializers.IntegerField(source="champion.number", read_only=True, allow_null=True,
                                        help_text="Version number of the champion compared with, if any.")
    state = serializers.ChoiceField(choices=RunState.choices, read_only=True)
    step = serializers.ChoiceField(choices=RunStep.choices, read_only=True)
    step_label = serializers.CharField(source="get_step_display", read_only=True)
    outcome = serializers.ChoiceField(choices=[("", "Not finished"), *Outcome.choices], read_only=True,
                                      help_text="Empty until the run succeeds.")
    started_by = serializers.CharField(source="started_by.username", read_only=True)

    class Meta:
        model = ValidationRun
        fields = ["id", "passport", "version", "reference", "validation", "target", "segment_column", "champion",
                  "tier", "depth", "state", "step", "step_label", "progress", "attempts", "worker", "failure_reason",
                  "outcome", "seed", "duration_seconds", "started_by", "created_at", "started_at", "heartbeat_at",
                  "finished_at"]
        read_only_fields = fields


class RunSerializer(RunListSerializer):
    """One run with what reproduces it (seed, digests, package versions) and its per-test summary."""

    tests = serializers.SerializerMethodField(help_text="Per-test summary, in run order; empty until it succeeds.")
    planned_tests = serializers.SerializerMethodField(help_text="The tests this run's depth runs, in order.")
    digests = serializers.JSONField(read_only=True, help_text="sha256 of the artifact, datasets, champion, results.")
    environment = serializers.JSONField(
        read_only=True, help_text="Where and with what it ran: worker, host, package versions, seeds, timings.")
    attempt_log = serializers.JSONField(read_only=True)

    class Meta(RunListSerializer.Meta):
        fields = [*RunListSerializer.Meta.fields, "planned_tests", "tests", "digests", "environment", "attempt_log"]
        read_only_fields = fields

    @extend_schema_field(CheckSummarySerializer(many=True))
    def get_tests(self, run: ValidationRun) -> list[dict]:
        return CheckSummarySerializer(check_summary(run.results or {}), many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_planned_tests(self, run: ValidationRun) -> list[str]:
        return list((run.thresholds or {}).get("tests", []))


class ShapFeatureSerializer(serializers.Serializer):
    feature = serializers.CharField()
    mean_abs_shap = serializers.FloatField(allow_null=True)


class ExplainabilitySerializer(serializers.Serializer):
    """The explainability test's answer, lifted out of the results: global importance, which algorithm ran on
    which data, and SHAP values of a sample of rows."""

    status = serializers.CharField()
    algorithm = serializers.CharField(
        allow_blank=True, help_text="`tree_interventional`, `tree_path_dependent` or the model-agnostic explainer.")
    exact = serializers.BooleanField(allow_null=True)
    output_space = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True, help_text="What ran, on which data, in words.")
    data = serializers.JSONField(allow_null=True, help_text="The explained rows and the background: which "
                                 "dataset and how many rows.")
    expected_value = serializers.FloatField(allow_null=True)
    importance = ShapFeatureSerializer(many=True, help_text="Mean |SHAP| per feature, largest first.")
    sample = serializers.JSONField(allow_null=True, help_text="Per-row SHAP values of a sample of explained rows: "
                                   "`features`, `x` (feature values per row), `shap` (SHAP values per row).")


class RunResultsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=RunState.choices)
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    digests = serializers.JSONField()
    explainability = ExplainabilitySerializer(allow_null=True, help_text="null when the run's depth has no "
                                              "explainability test.")
    results = serializers.JSONField(help_text="Everything the run measured: `tests` (one object per test with "
                                    "`status`, `metrics`, `charts`...), `order`, `summary`, `rows`, `task`.")


def explainability_of(results: dict) -> dict | None:
    """The explainability part of the results, shaped for ``ExplainabilitySerializer`` (None if it did not run)."""
    found = (results.get("tests") or {}).get("explainability")
    if found is None:
        return None
    return {"status": found.get("status", ""), "algorithm": found.get("algorithm", ""), "exact": found.get("exact"),
            "output_space": found.get("output_space", ""), "note": found.get("note") or "",
            "data": found.get("data"), "expected_value": found.get("expected_value"),
            "importance": found.get("importance") or [], "sample": found.get("sample")}


class ExplainRequestSerializer(serializers.Serializer):
    """Input of ``validation.explain.decisions.explain_decisions``: the version, and rows inline or by number."""

    passport = serializers.CharField(max_length=100, help_text="Key of the passport.")
    version = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="Version number.")
    rows = serializers.ListField(
        child=serializers.JSONField(), required=False, allow_null=True, default=None, max_length=1000,
        help_text="Rows to explain: objects keyed by feature name, or lists in the feature schema's order "
        "(null is a missing value). Give this, or `dataset` and `row_numbers`.")
    dataset = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None,
                                       help_text="Id of one of the passport's datasets to take rows from.")
    row_numbers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=10**9), required=False, allow_null=True, default=None,
        max_length=1000, help_text="Numbers of the dataset's rows (1 is the first data row).")
    algorithm = serializers.ChoiceField(choices=["interventional", "path_dependent"], default="interventional",
                                        help_text="Interventional TreeSHAP (against a 200-row sample of the "
                                        "reference data) or path-dependent (node covers from all of it).")
    output = serializers.ChoiceField(choices=["raw", "probability"], default="raw",
                                     help_text="The raw score (margin, log-odds) or the probability.")
    top = serializers.IntegerField(min_value=1, max_value=20, default=5, help_text="Reason codes a row.")


class ReasonCodeSerializer(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    shap = serializers.FloatField()
    direction = serializers.ChoiceField(choices=["up", "down"])
    text = serializers.CharField(help_text="The reason in the caller's language.")


class ExplainedRowSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The dataset row number, or the row's position in `rows` (from 1).")
    inputs = serializers.DictField(child=serializers.FloatField(allow_null=True))
    prediction = serializers.FloatField(help_text="The model's own output on the explained scale (ONNX Runtime).")
    shap = serializers.DictField(child=serializers.FloatField(), help_text="SHAP value of every feature.")
    sum = serializers.FloatField(help_text="Expected value plus the SHAP values.")
    additivity_error = serializers.FloatField(allow_null=True, help_text="|sum - prediction|.")
    reason_codes = ReasonCodeSerializer(many=True)


class ExplanationSerializer(serializers.Serializer):
    passport = serializers.CharField()
    version = serializers.IntegerField()
    source = serializers.CharField(help_text="`inline`, or the dataset the rows came from.")
    algorithm = serializers.CharField()
    method = serializers.CharField(help_text="tree_interventional, tree_path_dependent, or the model-agnostic "
                                   "permutation explainer for graphs that are not tree ensembles.")
    exact = serializers.BooleanField()
    output = serializers.CharField()
    output_space = serializers.CharField()
    expected_value = serializers.FloatField()
    background = serializers.DictField()
    summary = serializers.CharField(help_text="How the values were computed, in the caller's language.")
    note = serializers.CharField(help_text="The explainer's technical note (English).")
    features = serializers.ListField(child=serializers.CharField())
    rows = ExplainedRowSerializer(many=True)
    additivity = serializers.DictField()
    duration_ms = serializers.FloatField()
