"""Validation choices: the states of a validation run and their one transition map, its steps, test outcomes."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", pgettext_lazy("state of a validation run", "Failed")
    CANCELLED = "cancelled", _("Cancelled")


# running -> queued is the retry after a lost worker: the run starts again from the first step.
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.FAILED, RunState.CANCELLED}),
    RunState.RUNNING: frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.QUEUED, RunState.CANCELLED}),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
}

ACTIVE_RUN_STATES = frozenset({RunState.QUEUED, RunState.RUNNING})


class RunStep(models.TextChoices):
    """What a running validation is doing now, in the order the runner goes through them."""

    QUEUED = "queued", _("Waiting for a worker")
    BROKER = "broker", _("Waiting for the broker (the task queue cannot be reached; sent again when it answers)")
    LOAD = "load", _("Loading the artifact and datasets")
    PREDICT = "predict", _("Scoring the datasets with ONNX Runtime")
    PERFORMANCE = "performance", _("Performance")
    CALIBRATION = "calibration", _("Calibration")
    STABILITY = "stability", _("Stability (PSI)")
    DRIFT = "drift", _("Data drift (Evidently)")
    QUALITY = "quality", _("Data quality")
    ROBUSTNESS = "robustness", _("Robustness")
    GENERALISATION = "generalisation", _("Generalisation gap")
    SEGMENTS = "segments", _("Segment performance")
    EXPLAINABILITY = "explainability", _("Explainability (SHAP)")
    CHAMPION = "champion", _("Champion vs challenger")
    SAVE = "save", _("Saving the results")
    DONE = "done", _("Done")


class CheckStatus(models.TextChoices):
    """The outcome of one test of the library within a run."""

    PASSED = "passed", _("Passed")
    FAILED = "failed", _("Failed")
    INFO = "info", _("Reported (no threshold)")
    SKIPPED = "skipped", _("Skipped")
    ERROR = "error", _("Error")


class Outcome(models.TextChoices):
    """A finished run's verdict: every test that has a threshold passed, or at least one failed."""

    PASSED = "passed", _("All tests passed")
    FAILED = "failed", _("Some tests failed")


class ValidationDepth(models.TextChoices):
    BASIC = "basic", _("Basic: performance, data quality and explainability")
    STANDARD = "standard", _("Standard: + stability, calibration, drift")
    FULL = "full", _("Full: + robustness, segments, champion vs challenger")


class Rating(models.TextChoices):
    """The validator's rating of a model in a report, as model-risk teams grade it."""

    FIT = "fit", _("Fit for use")
    FIT_WITH_CONDITIONS = "fit_with_conditions", _("Fit for use with conditions")
    NOT_FIT = "not_fit", _("Not fit for use")
