"""Which tests a validation depth runs, and the default pass thresholds per risk tier.

The tier policy (``governance.RiskTierPolicy``) names the depth; this module turns (tier, depth) into the tests
to run and their thresholds. A policy snapshot may carry ``validation_thresholds`` ({test: {parameter: value}})
to override a default; a run stores the resolved thresholds, so a later change here never alters a finished run.

Conventions: ``*_min`` / ``*_max`` are pass bounds (None: reported, not judged); other keys are parameters of the
test (bins, sample sizes, perturbation sizes). A tuple gives the value for tiers 1, 2 and 3 (1 is the strictest).
"""

from __future__ import annotations

from copy import deepcopy

from django.utils.translation import gettext as _

from core.errors import DomainError
from validation.choices import ValidationDepth

# The order the runner goes through them (cheap, data-only tests first; champion last, it repeats the others).
TEST_ORDER: tuple[str, ...] = (
    "performance", "quality", "calibration", "stability", "drift", "generalisation", "explainability",
    "robustness", "segments", "champion",
)

# The labels of ValidationDepth say the same in words: basic = performance, data quality and explainability
# (every tier's report says why the model decides as it does); standard adds stability and calibration (and
# the generalisation gap, as cheap as stability); full adds robustness, segments and champion vs challenger.
TESTS_BY_DEPTH: dict[str, tuple[str, ...]] = {
    ValidationDepth.BASIC: ("performance", "quality", "explainability"),
    ValidationDepth.STANDARD: ("performance", "quality", "calibration", "stability", "drift", "generalisation",
                               "explainability"),
    ValidationDepth.FULL: TEST_ORDER,
}

_DEFAULTS: dict[str, dict] = {
    "performance": {
        # classifiers
        "auc_min": (0.75, 0.70, 0.65),
        "ks_min": (0.30, 0.25, 0.20),
        # log loss and Brier score must beat the no-skill forecast (always the positive rate) by this ratio
        "log_loss_max_ratio": (0.95, 1.0, 1.0),
        "brier_max_ratio": (0.95, 1.0, 1.0),
        "accuracy_min": None, "precision_min": None, "recall_min": None, "f1_min": None,
        "decision_threshold": 0.5,
        # regressors
        "r2_min": (0.6, 0.5, 0.3),
        "mae_max": None, "rmse_max": None, "mape_max": None,
    },
    "calibration": {"ece_max": (0.03, 0.05, 0.08), "bins": 10},
    "stability": {"feature_psi_max": 0.2, "score_psi_max": (0.1, 0.2, 0.2), "psi_warn": 0.1, "bins": 10},
    "drift": {"drifted_share_max": (0.3, 0.5, 0.5), "sample_rows": 10_000},
    "quality": {
        "missing_rate_max": (0.0, 0.01, 0.05),  # features the schema does not declare nullable
        "nullable_missing_rate_max": None,
        "out_of_range_rate_max": (0.0, 0.001, 0.01),
        "unseen_rate_max": (0.0, 0.001, 0.01),
    },
    "generalisation": {"gap_max": (0.05, 0.07, 0.10)},
    "explainability": {"sample_rows": 500, "background_rows": 100, "top_features": 10},
    "robustness": {
        "noise_scale": 0.1,  # Gaussian noise, in reference standard deviations of each feature
        "missing_rate": 0.05,  # share of values blanked in every feature
        "drop_max": (0.02, 0.03, 0.05),  # of the headline metric (AUC or R2)
        "feature_drop_max": (0.02, 0.03, 0.05),
        "sample_rows": 10_000,
    },
    "segments": {"gap_max": (0.10, 0.15, 0.20), "min_rows": 200, "max_segments": 20, "bins": 5},
    "champion": {"tolerance": (0.0, 0.01, 0.02)},  # the challenger may trail the champion's headline by this
}


def _for_tier(value, tier: int):
    return value[tier - 1] if isinstance(value, tuple) else value


def tests_for_depth(depth: str) -> tuple[str, ...]:
    if depth not in TESTS_BY_DEPTH:
        raise DomainError(_("Unknown validation depth '%(depth)s'.") % {"depth": depth}, code="invalid", field="depth")
    return TESTS_BY_DEPTH[depth]


def resolve(*, tier: int, depth: str, overrides: dict | None = None) -> dict:
    """The tests a run of this tier and depth performs and their thresholds, as a JSON-ready snapshot."""
    if tier not in (1, 2, 3):
        raise DomainError(_("Unknown risk tier %(tier)s.") % {"tier": tier}, code="invalid", field="tier")
    tests = tests_for_depth(depth)
    thresholds = {name: {key: _for_tier(value, tier) for key, value in _DEFAULTS[name].items()} for name in tests}
    for test, values in (overrides or {}).items():
        if test not in _DEFAULTS or not isinstance(values, dict) or set(values) - set(_DEFAULTS[test]):
            raise DomainError(_("The policy's validation thresholds name an unknown test or parameter: %(test)s.")
                              % {"test": test},
                              code="invalid_policy")
        if test in thresholds:
            thresholds[test].update(deepcopy(values))
    return {"tier": tier, "depth": str(depth), "tests": list(tests), "thresholds": thresholds}
