"""What the registry's audit events say, and how its objects are named and linked in the audit log."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.audit.describe import (
    ObjectRef,
    action_text,
    ids_of,
    key_labels,
    object_refs,
    system_actor,
    value_labels,
)
from registry.choices import DatasetKind, DecisionType, Materiality, RegulatoryExposure, VersionState
from registry.models import Alias, Dataset, MlflowFollow, ModelPassport, ModelVersion

action_text("passport.created", gettext_lazy("Passport created"),
            gettext_lazy("{actor} created the passport {object}."))
action_text("passport.changed", gettext_lazy("Passport edited"),
            gettext_lazy("{actor} edited the passport {object}."))
action_text("passport.retiered", gettext_lazy("Risk tier changed"),
            gettext_lazy("{actor} changed the risk tier of {object}: {reason}"))
action_text("version.registered", gettext_lazy("Version registered"),
            gettext_lazy("{actor} registered {object}."))
action_text("version.schema_refined", gettext_lazy("Feature schema refined"),
            gettext_lazy("{actor} refined the feature schema of {object}."))
action_text("dataset.registered", gettext_lazy("Dataset registered"),
            gettext_lazy("{actor} registered the dataset {object} ({kind})."))
action_text("mlflow.follow_started", gettext_lazy("MLflow model followed"),
            gettext_lazy("{actor} started following {object}; its versions after {from_version} are imported as "
                         "drafts."))
action_text("mlflow.follow_stopped", gettext_lazy("MLflow model no longer followed"),
            gettext_lazy("{actor} stopped following {object}."))
action_text("mlflow.follow_refused", gettext_lazy("Followed MLflow version not imported"),
            gettext_lazy("{actor} did not import {model_uri} into {passport}: {reason}"))
system_actor("mlflow follower", gettext_lazy("The MLflow follower"))
action_text("alias.moved", gettext_lazy("Alias moved"),
            gettext_lazy("{actor} pointed the alias {object} at version {to_version}."))


def version_ref(version: ModelVersion) -> ObjectRef:
    """A version as the log names it: "version 3 of credit-scoring", linked to its page."""
    return ObjectRef(label=_("version %(n)s of %(key)s") % {"n": version.number, "key": version.passport.key},
                     url=reverse("registry:version_detail", args=[version.passport.key, version.number]))


@object_refs.provide
def registry_refs(events) -> dict:
    refs = {}
    for passport in ModelPassport.objects.filter(pk__in=ids_of(events, "registry.modelpassport")).only("key", "name"):
        refs["registry.modelpassport", str(passport.pk)] = ObjectRef(
            label=f"{passport.key} ({passport.name})", url=reverse("registry:passport_detail", args=[passport.key]))
    for version in ModelVersion.objects.filter(pk__in=ids_of(events, "registry.modelversion")).select_related(
            "passport").only("number", "passport__key"):
        refs["registry.modelversion", str(version.pk)] = version_ref(version)
    for dataset in Dataset.objects.filter(pk__in=ids_of(events, "registry.dataset")).select_related(
            "passport").only("name", "passport__key"):
        refs["registry.dataset", str(dataset.pk)] = ObjectRef(
            label=dataset.name,
            url=reverse("registry:passport_detail", args=[dataset.passport.key]) + "#datasets-title")
    for follow in MlflowFollow.objects.filter(pk__in=ids_of(events, "registry.mlflowfollow")).select_related(
            "passport").only("registered_model", "tracking_uri", "passport__key"):
        refs["registry.mlflowfollow", str(follow.pk)] = ObjectRef(
            label=_("MLflow model %(name)s") % {"name": follow.registered_model},
            url=reverse("registry:version_import_mlflow", args=[follow.passport.key]) + "#mlflow-follows")
    for alias in Alias.objects.filter(pk__in=ids_of(events, "registry.alias")).select_related(
            "passport").only("name", "passport__key"):
        refs["registry.alias", str(alias.pk)] = ObjectRef(
            label=f"@{alias.name}", url=reverse("registry:passport_detail", args=[alias.passport.key]))
    return refs


@value_labels.provide
def registry_values() -> dict:
    states = dict(VersionState.choices)
    return {"from": states, "to": states, "kind": dict(DatasetKind.choices),
            "decision_type": dict(DecisionType.choices), "materiality": dict(Materiality.choices),
            "regulatory_exposure": dict(RegulatoryExposure.choices)}


@key_labels.provide
def registry_keys() -> dict:
    """A passport's fields by their names on the passport form (lazy, so in the reader's language)."""
    return {f.name: f.verbose_name for f in ModelPassport._meta.get_fields() if hasattr(f, "verbose_name")}
