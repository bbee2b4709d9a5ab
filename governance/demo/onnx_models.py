"""Small, deterministic scikit-learn models exported to ONNX, for the platform's demo data.

Each demo model is trained on synthetic data drawn from a seeded generator, so the same
``seed`` always gives byte-identical ONNX files and identical data frames. The holdout is an
"out-of-time" sample: the same target mechanism, but one or two features have drifted a
little, so drift tests have something to find.

Pure Python: no Django imports, so seed commands, tests and benchmarks can all use it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

INPUT_NAME = "float_input"
VARIANTS = ("champion", "challenger")
REFERENCE_FRACTION = 0.7
# Pinned so the exported files do not change when skl2onnx raises its default opset.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True, eq=False)
class DemoModel:
    """One trained demo model, its ONNX export and the data it was trained and evaluated on."""

    key: str
    name: str
    task: str
    onnx_bytes: bytes
    feature_names: list[str]
    target: str
    reference: pd.DataFrame
    holdout: pd.DataFrame
    metrics: dict[str, float]
    feature_ranges: dict[str, tuple[float, float]]
    description: str
    algorithm: str
    variant: str = "champion"
    # The fitted scikit-learn estimator, kept for comparisons (SHAP, parity tests); not serialised.
    estimator: Any = field(default=None, repr=False)

    def input_array(self, frame: pd.DataFrame) -> np.ndarray:
        """The model input for ``frame``: its feature columns in order, as a float32 matrix."""
        return frame[self.feature_names].to_numpy(dtype=np.float32)


# --- synthetic data -----------------------------------------------------------------------------------
# Each generator takes (rng, n_rows, drifted) and returns a frame with the features and the target.
# Values are rounded the way real data is (whole years, cents, three decimals), which also keeps them
# away from tree thresholds, so float32 ONNX and float64 scikit-learn agree.


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _credit_frame(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    age = np.clip(rng.normal(42, 12, n), 21, 75).round()
    income = np.clip(rng.lognormal(math.log(52_000), 0.45, n) * (1.07 if drifted else 1.0), 8_000, 400_000).round(-2)
    employment_years = np.minimum(rng.gamma(2.0, 3.5, n), age - 18).round(1)
    history = ((age - 18) * rng.uniform(0.2, 0.9, n)).round(1)
    dti = np.clip(rng.beta(2.2, 5.0, n) * 1.2, 0, 1.5).round(3)
    util = np.clip(rng.beta(2.0, 3.0, n) + (0.06 if drifted else 0.0), 0, 1).round(3)
    delinquencies = np.minimum(rng.poisson(0.3 + 0.6 * util), 10)
    inquiries = np.minimum(rng.poisson(1.2, n), 15)
    loan = np.clip(rng.lognormal(math.log(12_000), 0.6, n), 500, 150_000).round(-2)
    term = rng.choice([12, 24, 36, 48, 60], size=n, p=[0.1, 0.2, 0.35, 0.15, 0.2])
    logit = (
        -2.6
        + 4.0 * (dti - 0.34)
        + 3.0 * (util - 0.4)
        + 1.2 * (util > 0.85)
        + 0.7 * delinquencies
        + 0.2 * inquiries
        - 0.03 * (age - 42)
        - 1.0 * np.log(income / 52_000)
        - 0.06 * employment_years
        - 0.04 * history
        + 0.4 * np.log(loan / 12_000)
        + 0.012 * (term - 36)
    )
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "employment_years": employment_years,
            "credit_history_years": history,
            "debt_to_income": dti,
            "credit_utilization": util,
            "num_delinquencies_2y": delinquencies,
            "num_inquiries_6m": inquiries,
            "loan_amount": loan,
            "loan_term_months": term,
            "default_12m": (rng.random(n) < _sigmoid(logit)).astype(np.int64),
        }
    )


def _demand_frame(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    week = rng.integers(1, 53, n)
    weekday = rng.integers(0, 7, n)
    holiday = ((rng.random(n) < 0.03) | ((week >= 51) & (rng.random(n) < 0.3))).astype(np.int64)
    store_size = rng.uniform(300, 2_500, n).round(-1)
    season = np.sin(2 * np.pi * (week - 10) / 52)
    temperature = (12 + 11 * season + rng.normal(0, 3.5, n) + (1.5 if drifted else 0.0)).round(1)
    price = (rng.uniform(2.5, 6.0, n) * (1.06 if drifted else 1.0)).round(2)
    promo = np.where(rng.random(n) < 0.25, rng.choice([0.1, 0.15, 0.2, 0.3], size=n), 0.0)
    mean = (
        0.045
        * store_size
        * (1 + 0.25 * season)
        * np.exp(-0.18 * (price - 4))
        * (1 + 1.6 * promo)
        * np.where(weekday >= 5, 1.35, 1.0)
        * np.where(holiday == 1, 1.5, 1.0)
        * (1 + 0.012 * (temperature - 12))
    )
    return pd.DataFrame(
        {
            "week_of_year": week,
            "day_of_week": weekday,
            "is_holiday": holiday,
            "store_size_sqm": store_size,
            "temperature_c": temperature,
            "price": price,
            "promo_discount_pct": promo,
            "lag_7d_units": (mean * rng.lognormal(0, 0.15, n)).round(),
            "units_sold": (mean * rng.lognormal(0, 0.12, n)).round(),
        }
    )


def _fraud_frame(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    hour_weights = np.array([1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 4, 3, 2, 1], dtype=float)
    hour = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    foreign = (rng.random(n) < (0.12 if drifted else 0.08)).astype(np.int64)
    card_present = (rng.random(n) < 0.55).astype(np.int64)
    avg_amount = rng.lognormal(math.log(60), 0.6, n).round(2)
    amount = np.maximum(avg_amount * rng.lognormal(0, 0.7, n) * (1.1 if drifted else 1.0), 0.5).round(2)
    ratio = (amount / avg_amount).round(3)
    merchant_risk = rng.beta(1.5, 6.0, n).round(3)
    card_age = rng.integers(1, 3_650, n)
    count_1h = rng.poisson(0.4, n)
    count_24h = count_1h + rng.poisson(3.0, n)
    distance = np.minimum(rng.lognormal(math.log(8), 1.2, n), 20_000).round(1)
    failed_pin = rng.poisson(0.08, n)
    logit = (
        -7.0
        + 1.6 * np.log(ratio)
        + 6.0 * merchant_risk
        + 2.0 * foreign
        - 1.4 * card_present
        + 0.9 * count_1h
        + 1.2 * (hour < 6)
        + 0.4 * np.log1p(distance)
        + 1.5 * failed_pin
        + 1.5 * (card_age < 60)
    )
    return pd.DataFrame(
        {
            "amount": amount,
            "hour_of_day": hour,
            "is_foreign": foreign,
            "is_card_present": card_present,
            "merchant_risk_score": merchant_risk,
            "card_age_days": card_age,
            "txn_count_1h": count_1h,
            "txn_count_24h": count_24h,
            "avg_amount_30d": avg_amount,
            "amount_to_avg_ratio": ratio,
            "distance_from_home_km": distance,
            "failed_pin_attempts_24h": failed_pin,
            "is_fraud": (rng.random(n) < _sigmoid(logit)).astype(np.int64),
        }
    )


def _churn_frame(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    contract = rng.choice([1, 12, 24], size=n, p=[0.5, 0.3, 0.2])
    tenure = rng.integers(1, 73, n)
    charges = (rng.uniform(20, 120, n) + (9.0 if drifted else 0.0)).round(2)
    tickets = rng.poisson(0.8, n)
    usage = rng.gamma(3.0, 12.0, n).round(1)
    late = rng.poisson(0.5, n)
    monthly = (contract == 1).astype(float)
    logit = (
        -1.0
        + 1.3 * monthly
        - 0.5 * (contract == 24)
        - 0.035 * tenure
        + 0.018 * (charges - 70)
        + 0.015 * (charges - 70) * monthly
        + 0.45 * tickets
        - 0.025 * (usage - 36)
        + 0.35 * late
    )
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "contract_months": contract,
            "monthly_charges": charges,
            "support_tickets_90d": tickets,
            "usage_hours_30d": usage,
            "late_payments_12m": late,
            "churned_90d": (rng.random(n) < _sigmoid(logit)).astype(np.int64),
        }
    )


# --- model specifications -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    key: str
    name: str
    task: str
    target: str
    salt: int  # keeps each model's random stream independent of the others
    make_frame: Callable[[np.random.Generator, int, bool], pd.DataFrame]
    estimator: type
    params: dict[str, dict[str, Any]]  # variant -> hyper-parameters
    feature_ranges: dict[str, tuple[float, float]]
    summary: str


_SPECS: dict[str, _Spec] = {
    spec.key: spec
    for spec in (
        _Spec(
            key="credit-scoring",
            name="Retail credit scoring",
            task="classification",
            target="default_12m",
            salt=101,
            make_frame=_credit_frame,
            estimator=GradientBoostingClassifier,
            params={
                "champion": {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.1},
                "challenger": {"n_estimators": 120, "max_depth": 3, "learning_rate": 0.08, "subsample": 0.8},
            },
            feature_ranges={
                "age": (18, 100),
                "income": (0, 1_000_000),
                "employment_years": (0, 60),
                "credit_history_years": (0, 80),
                "debt_to_income": (0, 2),
                "credit_utilization": (0, 1),
                "num_delinquencies_2y": (0, 20),
                "num_inquiries_6m": (0, 30),
                "loan_amount": (100, 250_000),
                "loan_term_months": (6, 84),
            },
            summary="Probability that a retail borrower defaults within 12 months of origination, "
            "from bureau and application data",
        ),
        _Spec(
            key="demand-forecast",
            name="Store demand forecast",
            task="regression",
            target="units_sold",
            salt=202,
            make_frame=_demand_frame,
            estimator=GradientBoostingRegressor,
            params={
                "champion": {"n_estimators": 80, "max_depth": 4, "learning_rate": 0.1},
                "challenger": {"n_estimators": 150, "max_depth": 4, "learning_rate": 0.06, "subsample": 0.8},
            },
            feature_ranges={
                "week_of_year": (1, 53),
                "day_of_week": (0, 6),
                "is_holiday": (0, 1),
                "store_size_sqm": (100, 10_000),
                "temperature_c": (-40, 50),
                "price": (0.5, 50),
                "promo_discount_pct": (0, 0.9),
                "lag_7d_units": (0, 5_000),
            },
            summary="Daily units sold per store and product line, with weekly and yearly seasonality, "
            "price and promotion effects",
        ),
        _Spec(
            key="fraud-detection",
            name="Card fraud detection",
            task="classification",
            target="is_fraud",
            salt=303,
            make_frame=_fraud_frame,
            estimator=RandomForestClassifier,
            params={
                "champion": {
                    "n_estimators": 60,
                    "max_depth": 8,
                    "min_samples_leaf": 3,
                    "class_weight": "balanced_subsample",
                },
                "challenger": {
                    "n_estimators": 90,
                    "max_depth": 9,
                    "min_samples_leaf": 3,
                    "class_weight": "balanced_subsample",
                    "max_features": 0.5,
                },
            },
            feature_ranges={
                "amount": (0, 100_000),
                "hour_of_day": (0, 23),
                "is_foreign": (0, 1),
                "is_card_present": (0, 1),
                "merchant_risk_score": (0, 1),
                "card_age_days": (0, 10_000),
                "txn_count_1h": (0, 100),
                "txn_count_24h": (0, 500),
                "avg_amount_30d": (0, 50_000),
                "amount_to_avg_ratio": (0, 1_000),
                "distance_from_home_km": (0, 20_100),
                "failed_pin_attempts_24h": (0, 20),
            },
            summary="Score of a card transaction being fraudulent (about 3% of transactions), from "
            "transaction, card and merchant features",
        ),
        _Spec(
            key="churn-mlp",
            name="Subscriber churn (neural network)",
            task="classification",
            target="churned_90d",
            salt=404,
            make_frame=_churn_frame,
            estimator=MLPClassifier,
            params={
                "champion": {"hidden_layer_sizes": (16, 8), "alpha": 0.0001, "early_stopping": True, "max_iter": 200},
                "challenger": {"hidden_layer_sizes": (32, 16), "alpha": 0.001, "early_stopping": True, "max_iter": 200},
            },
            feature_ranges={
                "tenure_months": (0, 240),
                "contract_months": (1, 36),
                "monthly_charges": (0, 500),
                "support_tickets_90d": (0, 50),
                "usage_hours_30d": (0, 720),
                "late_payments_12m": (0, 12),
            },
            summary="Probability that a subscriber cancels within 90 days, from contract, billing and usage data",
        ),
    )
}

DEMO_MODEL_KEYS: tuple[str, ...] = tuple(_SPECS)


# --- building -----------------------------------------------------------------------------------------


def _make_estimator(spec: _Spec, variant: str, seed: int) -> Any:
    params = {**spec.params[variant], "random_state": seed}
    if spec.estimator is MLPClassifier:
        return Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier(**params))])
    return spec.estimator(**params)


def _algorithm(spec: _Spec, variant: str) -> str:
    args = ", ".join(f"{name}={value!r}" for name, value in spec.params[variant].items())
    text = f"{spec.estimator.__name__}({args})"
    return f"Pipeline(StandardScaler(), {text})" if spec.estimator is MLPClassifier else text


def _to_onnx(estimator: Any, key: str, n_features: int, classifier: bool) -> bytes:
    from skl2onnx import convert_sklearn  # imported lazily: slow to import and only needed here
    from skl2onnx.common.data_types import FloatTensorType

    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    onnx_model = convert_sklearn(
        estimator,
        name=key,  # without a name skl2onnx uses a random uuid, which would break byte-identical exports
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(final): {"zipmap": False}} if classifier else None,
        target_opset=TARGET_OPSET,
    )
    # skl2onnx may list the default domain twice for tree ensembles; keep one entry per domain.
    opsets: dict[str, int] = {}
    for entry in onnx_model.opset_import:
        opsets[entry.domain] = max(entry.version, opsets.get(entry.domain, 0))
    del onnx_model.opset_import[:]
    for domain, version in sorted(opsets.items()):
        onnx_model.opset_import.add(domain=domain, version=version)
    return onnx_model.SerializeToString()


def _metrics(task: str, estimator: Any, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    if task == "classification":
        scores = estimator.predict_proba(x)[:, 1]
        labels = estimator.predict(x)
        values = {"auc": roc_auc_score(y, scores), "accuracy": accuracy_score(y, labels), "f1": f1_score(y, labels)}
    else:
        pred = estimator.predict(x)
        values = {
            "mae": mean_absolute_error(y, pred),
            "rmse": math.sqrt(mean_squared_error(y, pred)),
            "r2": r2_score(y, pred),
        }
    return {name: round(float(value), 4) for name, value in values.items()}


def _description(spec: _Spec, variant: str, metrics: dict[str, float], n_ref: int) -> str:
    shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    role = (
        "Champion release"
        if variant == "champion"
        else "Challenger candidate, trained on the same data with a larger configuration"
    )
    return (
        f"{role}: {spec.summary}. Algorithm {_algorithm(spec, variant)}, trained on {n_ref} synthetic "
        f"reference rows and evaluated on an out-of-time holdout where some inputs have drifted slightly; "
        f"developer-reported holdout metrics: {shown}."
    )


def build_demo_model(key: str, *, seed: int = 7, n_rows: int = 4000, variant: str = "champion") -> DemoModel:
    """Train the demo model ``key`` on synthetic data and export it to ONNX.

    Deterministic: the same ``key``, ``seed``, ``n_rows`` and ``variant`` give byte-identical
    ``onnx_bytes`` and equal data frames. ``variant="challenger"`` trains a different configuration
    on exactly the same data. Raises ``ValueError`` for an unknown key or variant, or too few rows.
    """
    if key not in _SPECS:
        raise ValueError(f"unknown demo model {key!r}; expected one of {', '.join(DEMO_MODEL_KEYS)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    if n_rows < 200:
        raise ValueError("n_rows must be at least 200")
    spec = _SPECS[key]
    rng = np.random.default_rng([seed, spec.salt])
    n_ref = round(n_rows * REFERENCE_FRACTION)
    reference = spec.make_frame(rng, n_ref, False)
    holdout = spec.make_frame(rng, n_rows - n_ref, True)
    features = [column for column in reference.columns if column != spec.target]

    estimator = _make_estimator(spec, variant, seed)
    x_ref = reference[features].to_numpy(dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a capped max_iter keeps the MLP fast
        estimator.fit(x_ref, reference[spec.target].to_numpy())
    classifier = spec.task == "classification"
    metrics = _metrics(
        spec.task, estimator, holdout[features].to_numpy(dtype=np.float32), holdout[spec.target].to_numpy()
    )
    return DemoModel(
        key=key,
        name=spec.name,
        task=spec.task,
        onnx_bytes=_to_onnx(estimator, key, len(features), classifier),
        feature_names=features,
        target=spec.target,
        reference=reference,
        holdout=holdout,
        metrics=metrics,
        feature_ranges={name: (float(low), float(high)) for name, (low, high) in spec.feature_ranges.items()},
        description=_description(spec, variant, metrics, n_ref),
        algorithm=_algorithm(spec, variant),
        variant=variant,
        estimator=estimator,
    )


def build_demo_models(*, seed: int = 7, n_rows: int = 4000, variant: str = "champion") -> list[DemoModel]:
    """All four demo models (credit scoring, demand forecast, fraud detection, churn MLP), in that order."""
    return [build_demo_model(key, seed=seed, n_rows=n_rows, variant=variant) for key in DEMO_MODEL_KEYS]
