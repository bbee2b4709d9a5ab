"""OWASP Machine Learning Security Top 10 (2023): the checklist content and the evidence the platform fills in.

Risk names and codes are OWASP's; the control questions are the product's (see shared owasp-ml-top10.md).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from governance.workflow import hooks
from validation.choices import RunState
from validation.models import ValidationRun

CHECKLIST: dict[str, dict] = {
    "ML01": {"risk": _("Input Manipulation Attack"), "auto": True, "questions": _(
        "Is every serving request validated against the feature schema (types, ranges, categories)? "
        "Robustness test results from validation (noise / perturbation metric drop within threshold). "
        "Are uncertain or out-of-distribution inputs routed to a human or a safe default?")},
    "ML02": {"risk": _("Data Poisoning Attack"), "auto": True, "questions": _(
        "Is the training data's source, owner and digest recorded? Who can write to the training data? "
        "Were label and distribution anomalies checked before training?")},
    "ML03": {"risk": _("Model Inversion Attack"), "auto": True, "questions": _(
        "Does the endpoint return only what callers need (label vs full probabilities)? Is access authenticated "
        "and rate-limited? Was personal data minimised / pseudonymised for training?")},
    "ML04": {"risk": _("Membership Inference Attack"), "auto": True, "questions": _(
        "Is the generalisation gap (train vs holdout metric) small? Are confidence scores rounded or withheld? "
        "Is personal data in training covered by a legal basis (152-FZ / GDPR)?")},
    "ML05": {"risk": _("Model Theft"), "auto": True, "questions": _(
        "Is the artifact stored with access control and served only by signed releases? Are query rates limited "
        "and monitored per client?")},
    "ML06": {"risk": _("AI Supply Chain Attacks"), "auto": True, "questions": _(
        "Is the artifact digest verified from registration to serving? Are only allowed ONNX operators / no custom "
        "ops used? Are the training environment's packages pinned and scanned?")},
    "ML07": {"risk": _("Transfer Learning Attack"), "auto": False, "questions": _(
        "Is any pre-trained base model named with its source and digest? Was it obtained from a trusted source and "
        "evaluated for backdoors on held-out triggers? Not applicable for models trained from scratch (say so).")},
    "ML08": {"risk": _("Model Skewing"), "auto": True, "questions": _(
        "Is input and output drift monitored with thresholds? Is retraining data gated by validation before use?")},
    "ML09": {"risk": _("Output Integrity Attack"), "auto": True, "questions": _(
        "Are predictions logged with the version and a request id? Is transport authenticated and encrypted? "
        "Can the consumer verify which release answered?")},
    "ML10": {"risk": _("Model Poisoning"), "auto": True, "questions": _(
        "Is the served artifact byte-identical to the validated one? Who can write to the artifact store? "
        "Is weight tampering detected at load time?")},
}
CHECKLIST_CODES: list[str] = list(CHECKLIST)


def auto_evidence_for(code: str, version) -> dict:
    """What the platform already knows for an item; a person still confirms it by answering the item.

    Filled now: artifact digest and operator allow-list (ML06, ML10), training-data digest (ML02), and from the
    version's latest succeeded validation run its robustness results (ML01) and generalisation gap with the
    membership-attack AUC (ML04); ``governance.workflow.services.checklist_evidence`` refreshes those two when a run
    succeeds. Serving adds, through ``hooks.checklist_evidence``, how releases and hosts are guarded (ML05), drift
    monitoring (ML08), release signatures (ML09) and the digest check at load (ML10).
    """
    return {**_own_evidence(code, version), **hooks.checklist_evidence(code, version)}


def _own_evidence(code: str, version) -> dict:
    if code in VALIDATION_EVIDENCE:
        run = latest_run_with(version, VALIDATION_EVIDENCE[code])
        return validation_evidence(code, run) if run is not None else {}
    allowed = sorted({d or "ai.onnx" for d in settings.MG_ALLOWED_OPERATOR_DOMAINS})
    domains = sorted({op.split(":", 1)[0] if ":" in op else "ai.onnx" for op in version.operators})
    if code == "ML06":
        return {
            "artifact_sha256": version.sha256,
            "operators": version.operators,
            "operator_domains": domains,
            "allowed_domains": allowed,
            "custom_operators": [],  # uploads with other domains are refused at registration
            "verified_at_registration": True,
        }
    if code == "ML10":
        return {"artifact_sha256": version.sha256, "digest_bound_to_signoffs": True}
    if code == "ML02":
        return {
            "training_dataset": version.training_dataset.name if version.training_dataset_id else None,
            "training_data_sha256": version.training_data_digest or None,
        }
    return {}


# --- evidence from validation runs (ML01 input manipulation, ML04 membership inference) -----------------------

# Which validation test fills which item.
VALIDATION_EVIDENCE: dict[str, str] = {"ML01": "robustness", "ML04": "generalisation"}


def latest_run_with(version, test: str):
    """The version's newest succeeded validation run that ran ``test``, or None."""

    return (ValidationRun.objects.filter(version=version, state=RunState.SUCCEEDED, results__tests__has_key=test)
            .order_by("-finished_at", "-pk").only("pk", "results", "digests", "finished_at").first())


def _value(test: dict, name: str, key: str = "value"):
    value = (test.get("metrics") or {}).get(name, {}).get(key)
    return round(value, 6) if isinstance(value, float) else value


def validation_evidence(code: str, run) -> dict:
    """The auto evidence of ML01 or ML04 from one succeeded run's results (numbers rounded to 6 places)."""
    test = (run.results.get("tests") or {}).get(VALIDATION_EVIDENCE[code]) or {}
    common = {"validation_run": run.pk, "results_sha256": run.digests.get("results", ""),
              "headline_metric": run.results.get("headline"), "test_result": test.get("status")}
    if code == "ML01":
        perturbations = test.get("perturbations") or {}
        return {**common, "noise_drop": _value(test, "noise_drop"), "missing_drop": _value(test, "missing_drop"),
                "max_feature_drop": _value(test, "max_feature_drop"), "worst_feature": test.get("worst_feature"),
                "drop_max": _value(test, "noise_drop", "threshold"),
                "feature_drop_max": _value(test, "max_feature_drop", "threshold"),
                "noise_scale": perturbations.get("noise_scale"), "missing_rate": perturbations.get("missing_rate")}
    advantage = test.get("membership_advantage")
    return {**common, "generalisation_gap": _value(test, "gap"), "gap_max": _value(test, "gap", "threshold"),
            "train_metric": _value(test, "train"), "holdout_metric": _value(test, "holdout"),
            "membership_attack_auc": _value(test, "membership_attack_auc"),
            "membership_advantage": round(advantage, 6) if isinstance(advantage, float) else advantage}
