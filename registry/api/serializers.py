"""Registry API serializers.

Output serializers render what the selectors fetched (no extra queries per row). Input serializers check
types and shapes only and hand plain values to ``registry.services``, which own every business rule.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import MAX_ID
from governance.accounts.api.serializers import UserRefSerializer
from governance.accounts.models import BusinessUnit, Team
from registry.choices import (
    DatasetFormat,
    DatasetKind,
    DecisionType,
    Materiality,
    RegulatoryExposure,
    RiskTier,
    VersionState,
)
from registry.models import Alias, Dataset, MlflowFollow, ModelPassport, ModelVersion
from registry.schema import FEATURE_TYPES

# --------------------------------------------------------------------------- passports

_active_users = get_user_model().objects.filter(is_active=True)


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class PassportSerializer(serializers.ModelSerializer):
    """A passport with its owners, team, business unit and the list selector's version annotations."""

    business_owner = UserRefSerializer(read_only=True)
    technical_owner = UserRefSerializer(read_only=True)
    development_team = TeamRefSerializer(read_only=True)
    business_unit = serializers.CharField(source="business_unit.code", read_only=True,
                                          help_text="Business unit code.")
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, read_only=True,
                                        help_text="Derived from the tiering answers: 1 high .. 3 low.")
    version_count = serializers.IntegerField(read_only=True)
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)
    latest_state = serializers.ChoiceField(choices=VersionState.choices, read_only=True, allow_null=True)

    class Meta:
        model = ModelPassport
        fields = [
            "key", "name", "purpose", "intended_use", "out_of_scope_uses", "business_owner", "technical_owner",
            "development_team", "business_unit", "materiality", "decision_type", "processes_personal_data",
            "regulatory_exposure", "risk_tier", "personal_data_legal_basis", "data_sources", "features_description",
            "target", "limitations", "stop_limits", "monitoring_thresholds", "contacts", "created_at", "updated_at",
            "version_count", "latest_version", "latest_state",
        ]
        read_only_fields = fields


class PassportUpdateSerializer(serializers.Serializer):
    """Passport fields a PATCH may change (all optional); the key never changes."""

    name = serializers.CharField(max_length=200)
    purpose = serializers.CharField()
    intended_use = serializers.CharField(allow_blank=True, required=False)
    out_of_scope_uses = serializers.CharField(allow_blank=True, required=False)
    business_owner = serializers.PrimaryKeyRelatedField(queryset=_active_users, help_text="User id.")
    technical_owner = serializers.PrimaryKeyRelatedField(queryset=_active_users, help_text="User id.")
    development_team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), help_text="Team id.")
    business_unit = serializers.SlugRelatedField(slug_field="code", queryset=BusinessUnit.objects.all(),
                                                 help_text="Business unit code.")
    materiality = serializers.ChoiceField(choices=Materiality.choices)
    decision_type = serializers.ChoiceField(choices=DecisionType.choices)
    processes_personal_data = serializers.BooleanField(required=False)
    regulatory_exposure = serializers.ChoiceField(choices=RegulatoryExposure.choices)
    personal_data_legal_basis = serializers.CharField(allow_blank=True, required=False)
    data_sources = serializers.CharField(allow_blank=True, required=False)
    features_description = serializers.CharField(allow_blank=True, required=False)
    target = serializers.CharField(allow_blank=True, required=False, max_length=200)
    limitations = serializers.CharField(allow_blank=True, required=False)
    stop_limits = serializers.DictField(required=False, help_text="e.g. {\"max_decisions_per_day\": 10000}")
    monitoring_thresholds = serializers.DictField(required=False, help_text="e.g. {\"psi\": 0.2}")
    contacts = serializers.CharField(allow_blank=True, required=False)


class PassportRetierSerializer(serializers.Serializer):
    """Re-tiering: the tiering answers and the business owner to change (any of them), and why."""

    reason = serializers.CharField(max_length=5000, help_text="Why the tier or the business owner changes.")
    business_owner = serializers.PrimaryKeyRelatedField(queryset=_active_users, required=False, help_text="User id.")
    materiality = serializers.ChoiceField(choices=Materiality.choices, required=False)
    decision_type = serializers.ChoiceField(choices=DecisionType.choices, required=False)
    processes_personal_data = serializers.BooleanField(required=False)
    regulatory_exposure = serializers.ChoiceField(choices=RegulatoryExposure.choices, required=False)


class PassportCreateSerializer(PassportUpdateSerializer):
    key = serializers.CharField(max_length=100, help_text="Unique, lowercase letters, digits and dashes.")


# --------------------------------------------------------------------------- versions


class FeatureSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=FEATURE_TYPES)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    categories = serializers.ListField(child=serializers.JSONField(), allow_null=True,
                                       help_text="Allowed values (strings or numbers), or null.")
    nullable = serializers.BooleanField()
    description = serializers.CharField(required=False, allow_blank=True)


class FeatureSchemaSerializer(serializers.Serializer):
    """What serving and validation accept: one entry per model feature."""

    input = serializers.CharField(allow_null=True, required=False, help_text="The ONNX input the features feed.")
    layout = serializers.ChoiceField(choices=["tensor", "columns"], allow_null=True, required=False)
    features = FeatureSerializer(many=True)


class VersionSerializer(serializers.ModelSerializer):
    passport = serializers.CharField(source="passport.key", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)
    parent = serializers.IntegerField(source="parent.number", read_only=True, allow_null=True,
                                      help_text="Number of the parent version.")
    training_dataset = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                          help_text="Dataset id.")
    feature_schema = FeatureSchemaSerializer(read_only=True)
    artifact_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "number", "passport", "state", "sha256", "size", "ir_version", "opset", "opset_imports",
            "producer_name", "producer_version", "operators", "inputs", "outputs", "feature_schema",
            "training_dataset", "training_data_digest", "metrics", "parent", "mlflow_run_id", "mlflow_model_uri",
            "provenance", "change_description", "author", "approval_expires_at", "created_at", "artifact_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_artifact_url(self, version: ModelVersion) -> str:
        path = reverse("registry-api:passport-version-artifact",
                       kwargs={"passport_key": version.passport.key, "number": version.number})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class _JsonText(serializers.CharField):
    """A multipart text field carrying JSON; ``expected`` is the Python type the JSON must decode to."""

    def __init__(self, *, expected: type, **kwargs):
        self.expected = expected
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            value = json.loads(text)
        except ValueError:
            raise serializers.ValidationError("Not valid JSON.")
        if not isinstance(value, self.expected):
            raise serializers.ValidationError(f"Expected a JSON {'object' if self.expected is dict else 'list'}.")
        return value


class _FeatureNamesField(serializers.CharField):
    """A JSON list of strings (``["age", "income"]``) or a comma-separated string (``age,income``)."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data).strip()
        if text.startswith("["):
            try:
                names = json.loads(text)
            except ValueError:
                raise serializers.ValidationError("Not valid JSON.")
            if not all(isinstance(name, str) for name in names):
                raise serializers.ValidationError("Feature names must be strings.")
        else:
            names = text.split(",")
        names = [name.strip() for name in names]
        if not all(names):
            raise serializers.ValidationError("Feature names must not be empty.")
        return names


class VersionUploadSerializer(serializers.Serializer):
    artifact = serializers.FileField(help_text="The .onnx file.")
    feature_names = _FeatureNamesField(required=False, help_text="JSON list or comma-separated feature names.")
    training_dataset = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                                help_text="Id of a dataset of this passport.")
    metrics = _JsonText(expected=dict, required=False, help_text="JSON object of metric name to number.")
    parent = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                      help_text="Number of the parent version of this passport.")
    change_description = serializers.CharField(required=False, allow_blank=True)
    mlflow_run_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    mlflow_model_uri = serializers.CharField(required=False, allow_blank=True, max_length=500)


@extend_schema_field({"type": "object", "properties": {"features": {"type": "array", "items": {"type": "object"}}},
                      "required": ["features"]})
class _FeatureSchemaField(serializers.JSONField):
    """A JSON object (never null, never a list): the schema says so, the validation below enforces it."""


class FeatureSchemaRefineSerializer(serializers.Serializer):
    feature_schema = _FeatureSchemaField(help_text="The refined schema: {\"features\": [{name, type, min, max, "
                                           "categories, nullable, description}, ...]} in the artifact's order.")

    def validate_feature_schema(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        return value


# --------------------------------------------------------------------------- datasets and aliases


class DatasetSerializer(serializers.ModelSerializer):
    passport = serializers.CharField(source="passport.key", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = Dataset
        fields = ["id", "passport", "name", "kind", "format", "sha256", "size", "row_count", "schema", "uploaded_by",
                  "created_at"]
        read_only_fields = fields


class DatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV or Parquet file.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    kind = serializers.ChoiceField(choices=DatasetKind.choices)
    format = serializers.ChoiceField(choices=DatasetFormat.choices, required=False,
                                     help_text="Guessed from the file name when omitted.")


class AliasSerializer(serializers.ModelSerializer):
    passport = serializers.CharField(source="passport.key", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    updated_by = serializers.CharField(source="updated_by.username", read_only=True)

    class Meta:
        model = Alias
        fields = ["name", "passport", "version", "updated_by", "updated_at"]
        read_only_fields = fields


class AliasSetSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="Version number to point at.")


class MlflowImportSerializer(serializers.Serializer):
    model_uri = serializers.CharField(max_length=500, help_text="`models:/name/3`, `models:/name@alias` or "
                                      "`runs:/<run id>/<path>`.")
    tracking_uri = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                         help_text="One of the servers the operator allows; its default if empty.")
    tolerance = serializers.FloatField(required=False, min_value=0, max_value=1, default=1e-4,
                                       help_text="Largest absolute difference allowed between the converted model's "
                                       "predictions and the original's.")


class MlflowImportResultSerializer(serializers.Serializer):
    already_imported = serializers.BooleanField()
    version = VersionSerializer()


class MlflowFollowSerializer(serializers.ModelSerializer):
    passport = serializers.CharField(source="passport.key", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = MlflowFollow
        fields = ["id", "passport", "tracking_uri", "registered_model", "tolerance", "active", "last_version",
                  "imported", "last_checked_at", "last_error_code", "last_error", "created_by", "created_at"]
        read_only_fields = fields


class MlflowFollowCreateSerializer(serializers.Serializer):
    registered_model = serializers.CharField(max_length=256, help_text="The registered model's name in MLflow.")
    tracking_uri = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                         help_text="One of the servers the operator allows; its default if empty.")
    tolerance = serializers.FloatField(required=False, min_value=0, max_value=1, default=1e-4)
