"""Performance: AUC, accuracy, precision, recall, F1, log loss, Brier and KS for binary classifiers; MAE, RMSE,
MAPE and R2 for regressors; with the confusion matrix, ROC and precision-recall curves as chart data."""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from validation.checks import downsample, errored, gettext_noop, metric, num, nums, outcome

CLASSIFICATION = "classification"
REGRESSION = "regression"
HEADLINE = {CLASSIFICATION: "auc", REGRESSION: "r2"}


def headline(task: str, y: np.ndarray, score: np.ndarray) -> float | None:
    """The one number robustness, segments, generalisation and champion comparisons are judged on."""
    finite = np.isfinite(score)
    y, score = y[finite], score[finite]
    if len(y) < 2:
        return None
    if task == CLASSIFICATION:
        return num(skm.roc_auc_score(y, score)) if len(np.unique(y)) == 2 else None
    return num(skm.r2_score(y, score))


def _finite(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    finite = np.isfinite(score)
    if finite.all():
        return y, score, ""
    dropped = int((~finite).sum())
    return y[finite], score[finite], f"{dropped} rows with a non-finite model output were left out."


def no_skill(y: np.ndarray) -> tuple[float, float]:
    """Log loss and Brier score of always forecasting the positive rate: the bar a useful model must beat."""
    rate = float(np.mean(y))
    if rate in (0.0, 1.0):
        return 0.0, 0.0
    return -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate)), rate * (1 - rate)


def classification(y: np.ndarray, score: np.ndarray, *, thresholds: dict) -> dict:
    """Binary classifier metrics; ``y`` holds 0/1, ``score`` the positive-class probability."""
    y, score, note = _finite(np.asarray(y).astype(int), np.asarray(score, dtype=np.float64))
    if len(np.unique(y)) < 2:
        return errored(gettext_noop("The data hold only one class of the target, so AUC and KS cannot be computed."))
    cut = float(thresholds.get("decision_threshold", 0.5))
    predicted = (score >= cut).astype(int)
    fpr, tpr, _ = skm.roc_curve(y, score)
    precision_curve, recall_curve, _ = skm.precision_recall_curve(y, score)
    base_log_loss, base_brier = no_skill(y)
    log_loss_ratio = thresholds.get("log_loss_max_ratio")
    brier_ratio = thresholds.get("brier_max_ratio")
    values = {
        "auc": metric(skm.roc_auc_score(y, score), thresholds.get("auc_min")),
        "ks": metric(float(np.max(tpr - fpr)), thresholds.get("ks_min")),
        "accuracy": metric(skm.accuracy_score(y, predicted), thresholds.get("accuracy_min")),
        "precision": metric(skm.precision_score(y, predicted, zero_division=0), thresholds.get("precision_min")),
        "recall": metric(skm.recall_score(y, predicted, zero_division=0), thresholds.get("recall_min")),
        "f1": metric(skm.f1_score(y, predicted, zero_division=0), thresholds.get("f1_min")),
        "log_loss": metric(skm.log_loss(y, np.clip(score, 0.0, 1.0), labels=[0, 1]),
                           None if log_loss_ratio is None else base_log_loss * log_loss_ratio, "<="),
        "brier": metric(skm.brier_score_loss(y, np.clip(score, 0.0, 1.0)),
                        None if brier_ratio is None else base_brier * brier_ratio, "<="),
    }
    matrix = skm.confusion_matrix(y, predicted, labels=[0, 1])
    fpr_points, tpr_points = downsample(fpr, tpr)
    recall_points, precision_points = downsample(recall_curve[::-1], precision_curve[::-1])
    charts = {
        "confusion_matrix": {"labels": ["0", "1"], "matrix": matrix.tolist(), "threshold": cut},
        "roc": {"fpr": fpr_points, "tpr": tpr_points},
        "precision_recall": {"recall": recall_points, "precision": precision_points},
        "score_histogram": _score_histogram(y, score),
    }
    return outcome(headline="auc", metrics=values, charts=charts, note=note, rows=int(len(y)),
                   positive_rate=num(np.mean(y)), no_skill={"log_loss": num(base_log_loss), "brier": num(base_brier)})


def _score_histogram(y: np.ndarray, score: np.ndarray, bins: int = 20) -> dict:
    edges = np.linspace(0.0, 1.0, bins + 1)
    clipped = np.clip(score, 0.0, 1.0)
    negatives, _ = np.histogram(clipped[y == 0], bins=edges)
    positives, _ = np.histogram(clipped[y == 1], bins=edges)
    return {"edges": nums(edges), "negatives": negatives.tolist(), "positives": positives.tolist()}


def regression(y: np.ndarray, prediction: np.ndarray, *, thresholds: dict) -> dict:
    """Regressor metrics on the target ``y`` and the model's ``prediction``."""
    y, prediction, note = _finite(np.asarray(y, dtype=np.float64), np.asarray(prediction, dtype=np.float64))
    if len(y) < 2:
        return errored(gettext_noop("Fewer than two rows could be scored."))
    values = {
        "r2": metric(skm.r2_score(y, prediction), thresholds.get("r2_min")),
        "mae": metric(skm.mean_absolute_error(y, prediction), thresholds.get("mae_max"), "<="),
        "rmse": metric(math.sqrt(skm.mean_squared_error(y, prediction)), thresholds.get("rmse_max"), "<="),
        "mape": metric(skm.mean_absolute_percentage_error(y, prediction), thresholds.get("mape_max"), "<="),
    }
    residuals = prediction - y
    counts, edges = np.histogram(residuals, bins=30)
    index = np.unique(np.linspace(0, len(y) - 1, min(len(y), 1000)).round().astype(int))
    charts = {
        "predicted_vs_actual": {"actual": nums(y[index]), "predicted": nums(prediction[index])},
        "residual_histogram": {"edges": nums(edges), "counts": counts.tolist()},
    }
    return outcome(headline="r2", metrics=values, charts=charts, note=note, rows=int(len(y)),
                   target_mean=num(np.mean(y)))


def evaluate(task: str, y: np.ndarray, score: np.ndarray, *, thresholds: dict) -> dict:
    return (classification if task == CLASSIFICATION else regression)(y, score, thresholds=thresholds)
