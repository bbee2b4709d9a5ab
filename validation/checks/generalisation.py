"""Generalisation gap: the headline metric on the training sample (reference) against the holdout (validation).

A large gap means the model learnt its training rows rather than the mechanism behind them, which is also what a
membership-inference attack exploits (OWASP ML04). As evidence for that item the test also reports the AUC of the
simplest such attack, which guesses "training row" when the model's loss on a row is low (0.5: the attacker learns
nothing). The two samples may differ for honest reasons (an out-of-time holdout drifts), so the attack AUC is
reported, not judged.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from validation.checks import errored, gettext_noop, metric, num, outcome
from validation.checks.performance import CLASSIFICATION, headline


def row_loss(task: str, y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per-row loss: log loss for classifiers, squared error for regressors."""
    if task == CLASSIFICATION:
        p = np.clip(score, 1e-7, 1 - 1e-7)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return (score - y) ** 2


def membership_attack_auc(task: str, y_train, s_train, y_holdout, s_holdout) -> float | None:
    loss = np.concatenate([row_loss(task, y_train, s_train), row_loss(task, y_holdout, s_holdout)])
    member = np.concatenate([np.ones(len(y_train)), np.zeros(len(y_holdout))])
    finite = np.isfinite(loss)
    if len(np.unique(member[finite])) < 2:
        return None
    return float(roc_auc_score(member[finite], -loss[finite]))


def generalisation(task: str, y_train: np.ndarray, s_train: np.ndarray, y_holdout: np.ndarray,
                   s_holdout: np.ndarray, *, thresholds: dict) -> dict:
    train, holdout = headline(task, y_train, s_train), headline(task, y_holdout, s_holdout)
    if train is None or holdout is None:
        return errored(gettext_noop("The headline metric cannot be computed on both datasets."))
    attack = membership_attack_auc(task, y_train, s_train, y_holdout, s_holdout)
    return outcome(headline="gap", metrics={
        "gap": metric(train - holdout, thresholds.get("gap_max"), "<="),
        "train": metric(train),
        "holdout": metric(holdout),
        "membership_attack_auc": metric(attack),
    }, metric_name="auc" if task == CLASSIFICATION else "r2",
        membership_advantage=num(max(0.0, 2 * attack - 1)) if attack is not None else None,
        charts={"gap": {"labels": ["train (reference)", "holdout (validation)"], "values": [train, holdout]}})
