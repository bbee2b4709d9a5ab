"""OWASP Machine Learning Security Top 10 (2023): the checklist content and the evidence the platform fills in.

Risk names and codes are OWASP's; the control questions are the product's (see shared owasp-ml-top10.md).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

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

    Filled now: artifact digest and operator allow-list (ML06, ML10), training-data digest (ML02). Robustness,
    generalisation gap, deployment auth and drift monitoring are added by validation and serving.
    """
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
