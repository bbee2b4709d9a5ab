"""Registry models: passports, versions with their ONNX artifacts, datasets and aliases."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import LONG_TEXT, limited
from registry.choices import (
    DatasetFormat,
    DatasetKind,
    DecisionType,
    Materiality,
    RegulatoryExposure,
    RiskTier,
    VersionState,
)

key_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{1,98}[a-z0-9]$", _("Lowercase letters, digits and dashes."))

# The monitoring thresholds serving alerts on, each a number above the first bound and at most the second; a
# passport may record others (an AUC floor, say) for its reviewers.
SERVED_THRESHOLDS = {"psi": (0, 10), "score_psi": (0, 10), "latency_p95_ms": (0, 3_600_000), "error_rate": (0, 1)}
SERVED_THRESHOLD_KEYS = (*SERVED_THRESHOLDS, "min_window_requests")
SERVED_STOP_LIMIT = "max_decisions_per_day"  # the one stop-limit serving hosts enforce


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_stop_limits(value) -> None:
    """Any limits may be recorded; the one serving hosts enforce must be a whole number, or serving would not know
    what it allows (a limit it cannot read must not become no limit)."""
    if not isinstance(value, dict):
        raise ValidationError(_("Stop-limits are an object of limit name to value."), code="invalid_stop_limit")
    if SERVED_STOP_LIMIT in value and not (_whole(value[SERVED_STOP_LIMIT]) and value[SERVED_STOP_LIMIT] >= 0):
        raise ValidationError(_("max_decisions_per_day is a whole number of decisions, 0 or more (0: no limit)."),
                              code="invalid_stop_limit")


def validate_monitoring_thresholds(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_("Monitoring thresholds are an object of threshold name to value."),
                              code="invalid_threshold")
    for key, (low, high) in SERVED_THRESHOLDS.items():
        number = value.get(key)
        if key in value and not (isinstance(number, int | float) and not isinstance(number, bool)
                                 and math.isfinite(number) and low < number <= high):
            raise ValidationError(_("%(key)s is a number above %(low)s and at most %(high)s."),
                                  code="invalid_threshold", params={"key": key, "low": low, "high": high})
    if "min_window_requests" in value and not (_whole(value["min_window_requests"])
                                               and value["min_window_requests"] >= 1):
        raise ValidationError(_("min_window_requests is a whole number of requests, 1 or more."),
                              code="invalid_threshold")


def artifact_path(instance: ModelVersion, filename: str) -> str:
    return f"artifacts/{instance.passport.key}/{instance.sha256}.onnx"


def dataset_path(instance: Dataset, filename: str) -> str:
    return f"datasets/{instance.passport.key}/{instance.sha256}.{instance.format}"


class ModelPassport(models.Model):
    """One production model: purpose, owners, risk tier and its limits. Changed only via registry services."""

    key = models.CharField(_("key"), max_length=100, unique=True, validators=[key_validator])
    name = models.CharField(_("name"), max_length=200)
    purpose = models.TextField(_("purpose"), **limited(LONG_TEXT))
    intended_use = models.TextField(_("intended use"), blank=True, **limited(LONG_TEXT))
    out_of_scope_uses = models.TextField(_("out-of-scope uses"), blank=True, **limited(LONG_TEXT))
    business_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_passports",
        verbose_name=_("business owner"),
    )
    technical_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="technical_passports",
        verbose_name=_("technical owner"),
    )
    development_team = models.ForeignKey(
        "governance.Team", on_delete=models.PROTECT, related_name="passports", verbose_name=_("development team")
    )
    business_unit = models.ForeignKey(
        "governance.BusinessUnit", on_delete=models.PROTECT, related_name="passports", verbose_name=_("business unit")
    )
    # Tiering questionnaire; risk_tier is derived from it by registry.services.tier_from_answers.
    materiality = models.CharField(_("materiality"), max_length=10, choices=Materiality.choices)
    decision_type = models.CharField(_("decision type"), max_length=20, choices=DecisionType.choices)
    processes_personal_data = models.BooleanField(_("processes personal data"), default=False)
    regulatory_exposure = models.CharField(_("regulatory exposure"), max_length=10, choices=RegulatoryExposure.choices)
    risk_tier = models.PositiveSmallIntegerField(_("risk tier"), choices=RiskTier.choices, db_index=True)
    personal_data_legal_basis = models.TextField(_("legal basis for personal data"), blank=True,
                                                 **limited(LONG_TEXT))
    data_sources = models.TextField(_("data sources"), blank=True, **limited(LONG_TEXT))
    features_description = models.TextField(_("features"), blank=True, **limited(LONG_TEXT))
    target = models.CharField(_("target"), max_length=200, blank=True)
    limitations = models.TextField(_("limitations and known failure modes"), blank=True, **limited(LONG_TEXT))
    stop_limits = models.JSONField(_("stop-limits"), default=dict, blank=True, validators=[validate_stop_limits])
    monitoring_thresholds = models.JSONField(_("monitoring thresholds"), default=dict, blank=True,
                                             validators=[validate_monitoring_thresholds])
    contacts = models.TextField(_("contacts"), blank=True, **limited(LONG_TEXT))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["key"]
        verbose_name = _("model passport")
        verbose_name_plural = _("model passports")
        permissions = [
            ("upload_version_modelpassport", "Can register versions and datasets of this passport"),
            ("move_alias_modelpassport", "Can move aliases of this passport"),
            ("retier_modelpassport", "Can change the risk tier, tiering answers and business owner of passports"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"


class Dataset(models.Model):
    """An uploaded CSV or Parquet file with its digest and inferred schema; immutable once stored."""

    passport = models.ForeignKey(ModelPassport, on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=DatasetKind.choices)
    format = models.CharField(_("format"), max_length=10, choices=DatasetFormat.choices)
    file = models.FileField(_("file"), upload_to=dataset_path, max_length=300)
    sha256 = models.CharField(_("sha256"), max_length=64, db_index=True)
    size = models.BigIntegerField(_("size in bytes"))
    row_count = models.BigIntegerField(_("rows"))
    schema = models.JSONField(_("schema"), default=list)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"


class ModelVersion(models.Model):
    """An ONNX artifact of a passport, immutable once registered except for its state (governance moves it)
    and its feature schema (refined through ``registry.services.version_refine_schema``)."""

    passport = models.ForeignKey(ModelPassport, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    state = models.CharField(
        _("state"), max_length=20, choices=VersionState.choices, default=VersionState.DRAFT, db_index=True
    )
    artifact = models.FileField(_("ONNX artifact"), upload_to=artifact_path, max_length=300)
    sha256 = models.CharField(_("sha256"), max_length=64, db_index=True)
    size = models.BigIntegerField(_("size in bytes"))
    ir_version = models.PositiveIntegerField(_("IR version"))
    opset = models.PositiveIntegerField(_("opset"))
    opset_imports = models.JSONField(_("opset imports"), default=dict)
    producer_name = models.CharField(_("producer"), max_length=200, blank=True)
    producer_version = models.CharField(_("producer version"), max_length=100, blank=True)
    operators = models.JSONField(_("operators"), default=list)
    inputs = models.JSONField(_("inputs"), default=list)
    outputs = models.JSONField(_("outputs"), default=list)
    feature_schema = models.JSONField(_("feature schema"), default=dict)
    training_dataset = models.ForeignKey(
        Dataset, on_delete=models.PROTECT, null=True, blank=True, related_name="trained_versions",
        verbose_name=_("training dataset"),
    )
    training_data_digest = models.CharField(_("training data digest"), max_length=64, blank=True)
    metrics = models.JSONField(_("developer-reported metrics"), default=dict, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    mlflow_run_id = models.CharField(_("MLflow run id"), max_length=100, blank=True)
    mlflow_model_uri = models.CharField(_("MLflow model URI"), max_length=500, blank=True)
    # where an imported version came from: the MLflow server, run, parameters, tags, commit, conversion parity
    provenance = models.JSONField(_("provenance"), default=dict, blank=True)
    change_description = models.TextField(_("change description"), blank=True, **limited(LONG_TEXT))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="authored_versions")
    approval_expires_at = models.DateTimeField(_("approval expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("registered"), default=timezone.now)

    class Meta:
        ordering = ["passport_id", "-number"]
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        constraints = [models.UniqueConstraint(fields=["passport", "number"], name="unique_version_number")]
        indexes = [models.Index(fields=["passport", "state"])]

    def __str__(self) -> str:
        return f"{self.passport.key} v{self.number}"


class Alias(models.Model):
    """A movable name (``champion``, ``challenger``, free names) that points at one version of a passport."""

    passport = models.ForeignKey(ModelPassport, on_delete=models.PROTECT, related_name="aliases")
    name = models.SlugField(_("name"), max_length=50)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["passport_id", "name"]
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")
        constraints = [models.UniqueConstraint(fields=["passport", "name"], name="unique_alias_name")]

    def __str__(self) -> str:
        return f"{self.passport.key}@{self.name}"


class MlflowFollow(models.Model):
    """A registered model of an MLflow server that the platform follows for a passport: each version registered
    there after ``last_version`` is imported as a draft by a periodic task (``registry.mlflow_follow``), as the
    person who set it up and with the checks of any import."""

    passport = models.ForeignKey(ModelPassport, on_delete=models.CASCADE, related_name="mlflow_follows")
    tracking_uri = models.CharField(_("tracking server"), max_length=500)
    registered_model = models.CharField(_("registered model"), max_length=256)
    tolerance = models.FloatField(_("parity tolerance"), default=1e-4)
    active = models.BooleanField(_("active"), default=True)
    last_version = models.PositiveIntegerField(_("last MLflow version handled"), default=0)
    last_checked_at = models.DateTimeField(_("last checked"), null=True, blank=True)
    last_error_code = models.CharField(max_length=60, blank=True)
    last_error = models.TextField(_("last problem"), blank=True, **limited(LONG_TEXT))
    imported = models.PositiveIntegerField(_("versions imported"), default=0)
    language = models.CharField(_("language"), max_length=10, default="en")  # what it writes is in this language
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("started"), default=timezone.now)

    class Meta:
        ordering = ["passport_id", "registered_model"]
        verbose_name = _("followed MLflow model")
        verbose_name_plural = _("followed MLflow models")
        constraints = [models.UniqueConstraint(fields=["passport", "tracking_uri", "registered_model"],
                                               name="unique_mlflow_follow")]

    def __str__(self) -> str:
        return f"{self.passport.key} <- {self.registered_model} ({self.tracking_uri})"
