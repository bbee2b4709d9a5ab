"""Registry API: passports, and under each passport its versions, datasets and aliases.

Reads come from ``registry.selectors`` (already limited to what the user may see: anything else is a 404);
each write validates types with an input serializer and makes one ``registry.services`` call, which checks
the object permission (403) and the business rules (400/409).
"""

from __future__ import annotations

import json
from functools import cached_property

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from core.api.filters import SelectorFilterBackend, SelectorFilterMixin
from core.api.parsers import JSONParser, MultiPartParser
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.api.serializers import validated as _validated
from core.uploads import upload_limit
from registry import mlflow_follow, mlflow_import, selectors, services
from registry.api.serializers import (
    AliasSerializer,
    AliasSetSerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
    FeatureSchemaRefineSerializer,
    MlflowFollowCreateSerializer,
    MlflowFollowSerializer,
    MlflowImportResultSerializer,
    MlflowImportSerializer,
    PassportCreateSerializer,
    PassportRetierSerializer,
    PassportSerializer,
    PassportUpdateSerializer,
    VersionSerializer,
    VersionUploadSerializer,
)
from registry.filtersets import PassportFilterSet
from registry.models import Alias, Dataset, MlflowFollow, ModelPassport, ModelVersion

# The per-passport annotations of registry.selectors.passport_list.
PASSPORT_ANNOTATIONS = ("version_count", "latest_version", "latest_state")
PASSPORT_KEY = OpenApiParameter("passport_key", str, OpenApiParameter.PATH, description="Passport key.")
VERSION_NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="Version number.")
DATASET_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Dataset id.")
ALIAS_NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Alias name.")


class OnnxRenderer(BaseRenderer):
    """Lets clients ask for ``application/octet-stream``; the artifact itself is a FileResponse."""

    media_type = "application/octet-stream"
    format = "onnx"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


# --------------------------------------------------------------------------- passports


@extend_schema_view(
    list=extend_schema(summary="List passports", responses={200: PassportSerializer(many=True),
                                                            **error_responses(400, 403, 404)}),
    retrieve=extend_schema(summary="Get a passport", responses={200: PassportSerializer,
                                                                **error_responses(403, 404)}),
)
class PassportViewSet(SelectorFilterMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Model passports. No PUT (use PATCH) and no DELETE: passports are never removed."""

    permission_classes = [Authenticated]
    scope = "registry"
    serializer_class = PassportSerializer
    parser_classes = [JSONParser]
    lookup_field = "key"
    lookup_value_regex = "[^/]+"
    filter_backends = [SelectorFilterBackend, OrderingFilter]
    filterset_class = PassportFilterSet
    ordering_fields = ["key", "name", "risk_tier", "created_at"]
    ordering = ["key"]

    def get_queryset(self):
        return selectors.passport_list(user=self.request.user, filters=self.selector_filters())

    @extend_schema(
        summary="Create a passport",
        description="Needs `registry.add_modelpassport` (model developers, owners, engineers). "
        "The risk tier is derived from the tiering answers.",
        request=PassportCreateSerializer,
        responses={201: PassportSerializer, **error_responses(400, 403, 409)},
    )
    def create(self, request):
        passport = services.passport_create(actor=request.user, **_validated(PassportCreateSerializer, request.data))
        # A new passport has no versions, so the list annotations are known without another query.
        passport.version_count, passport.latest_version, passport.latest_state = 0, None, None
        return Response(self.get_serializer(passport).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a passport",
        description="Owners may change their passports; the key never changes.",
        request=PassportUpdateSerializer,
        responses={200: PassportSerializer, **error_responses(400, 403, 404)},
    )
    def partial_update(self, request, key=None):
        current = self.get_object()
        data = _validated(PassportUpdateSerializer, request.data, partial=True)
        passport = services.passport_update(actor=request.user, passport=current, **data)
        return Response(self._serialized_like(current, passport))

    @extend_schema(
        summary="Re-tier a passport",
        description="Change the tiering answers and/or the business owner, with a reason: risk officers and "
        "administrators only, and lowering the tier needs a risk officer. While a version is under review the tier "
        "may only rise (effective at the next submission). A PATCH of these fields answers 400 `retier_required`.",
        request=PassportRetierSerializer,
        responses={200: PassportSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def retier(self, request, key=None):
        current = self.get_object()
        data = _validated(PassportRetierSerializer, request.data)
        passport = services.passport_retier(actor=request.user, passport=current, **data)
        return Response(self._serialized_like(current, passport))

    def _serialized_like(self, current, passport) -> dict:
        """``passport`` as returned after a write, with ``current``'s version annotations (edits and re-tiering
        never change the versions, so no second query)."""
        for name in PASSPORT_ANNOTATIONS:
            setattr(passport, name, getattr(current, name))
        return self.get_serializer(passport).data


# --------------------------------------------------------------------------- children of a passport


@extend_schema(parameters=[PASSPORT_KEY])
class PassportChildViewSet(viewsets.GenericViewSet):
    """Base of ``/passports/{passport_key}/<children>/``.

    The passport comes from the selector, so every child endpoint of a passport the user may not see is a 404.
    Subclasses name their model and their selector (``selector(user=, passport=)``).
    """

    permission_classes = [Authenticated]
    scope = "registry"
    filter_backends: list = []
    model: type = ModelVersion
    selector = staticmethod(selectors.version_list)

    @cached_property
    def passport(self) -> ModelPassport:
        return selectors.passport_get(user=self.request.user, key=self.kwargs["passport_key"])

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # After authentication and scope checks, before any input is read: a passport the user may not see
        # is a 404 for every action, never a validation error that would reveal it exists.
        self.passport  # noqa: B018

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user, no passport
            return self.model.objects.none()
        return self.selector(user=self.request.user, passport=self.passport)


@extend_schema_view(
    list=extend_schema(summary="List a passport's versions", responses={200: VersionSerializer(many=True),
                                                                        **error_responses(403, 404)}),
    retrieve=extend_schema(summary="Get a version", parameters=[VERSION_NUMBER],
                           responses={200: VersionSerializer, **error_responses(403, 404)}),
)
@upload_limit("MG_MAX_ARTIFACT_BYTES")
class VersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PassportChildViewSet):
    """ONNX versions of a passport, newest first."""

    model = ModelVersion
    selector = staticmethod(selectors.version_list)
    serializer_class = VersionSerializer
    parser_classes = [MultiPartParser]
    lookup_field = "number"
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        summary="Register a version",
        description="Uploads an ONNX artifact; it is parsed and checked, and becomes the passport's next draft "
        "version. A refused artifact gives 400 with `error.code` naming the problem (`not_onnx`, `truncated`, "
        "`too_large`, `external_data`, `custom_operator_domain`, `no_inputs`, `invalid_model`, "
        "`schema_mismatch`) and stores nothing.",
        request={"multipart/form-data": VersionUploadSerializer},
        responses={201: VersionSerializer, **error_responses(400, 403, 404, 409)},
    )
    def create(self, request, passport_key=None):
        data = _validated(VersionUploadSerializer, request.data)
        upload = data.pop("artifact")
        data.update(self._references(data.pop("training_dataset", None), data.pop("parent", None)))
        version = services.version_register(actor=request.user, passport=self.passport, upload=upload, **data)
        return Response(self.get_serializer(version).data, status=status.HTTP_201_CREATED)

    def _references(self, dataset_id: int | None, parent_number: int | None) -> dict:
        """Resolve ids in the form to this passport's rows the user can see; unknown ones are a 400."""
        refs = {}
        if dataset_id is not None:
            refs["training_dataset"] = selectors.dataset_list(user=self.request.user, passport=self.passport).filter(
                pk=dataset_id).first()
            if refs["training_dataset"] is None:
                raise ValidationError({"training_dataset": [f"No dataset {dataset_id} in this passport."]})
        if parent_number is not None:
            refs["parent"] = self.get_queryset().filter(number=parent_number).first()
            if refs["parent"] is None:
                raise ValidationError({"parent": [f"No version {parent_number} in this passport."]})
        return refs

    @extend_schema(
        summary="Import a version from MLflow",
        description="A registered model's version or alias (`models:/name/3`, `models:/name@champion`) or a run's "
        "model (`runs:/<run id>/model`) from an MLflow server the operator allows. An `onnx` flavour is taken as "
        "is; a scikit-learn, XGBoost or LightGBM flavour is converted to ONNX and its predictions compared with "
        "the original's on the model's input example or, without one, rows of the training data the run logged "
        "(`parity_failed` over `tolerance`, `no_parity_sample` without either). The datasets the run logged become "
        "the passport's datasets where reachable (the version's `provenance.datasets` says what became of each). "
        "A skops file loads without unpickling (`untrusted_types` for types the operator does not trust); "
        "`pickle_refused` where the operator turned pickles off. Then the same checks as an upload. 201 with the "
        "new version; 200 with `already_imported: true` when that MLflow version was imported before. Other "
        "refusals: `tracking_uri_not_allowed`, `mlflow_not_found`, `mlflow_unreachable`, `unsupported_flavor`, "
        "`conversion_failed`, `model_load_failed`, `not_a_model`.",
        request=MlflowImportSerializer,
        responses={201: MlflowImportResultSerializer, 200: MlflowImportResultSerializer,
                   **error_responses(400, 403, 404, 409)},
    )
    @action(detail=False, methods=["post"], url_path="import-mlflow", parser_classes=[JSONParser])
    def import_mlflow(self, request, passport_key=None):
        data = _validated(MlflowImportSerializer, request.data)
        version, created = mlflow_import.version_import(actor=request.user, passport=self.passport, **data)
        body = {"already_imported": not created, "version": self.get_serializer(version).data}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Refine a version's feature schema",
        description="Names, ranges, categories and descriptions of the features derived from the artifact. "
        "Only draft versions; the number and order of features are fixed by the artifact.",
        parameters=[VERSION_NUMBER],
        request=FeatureSchemaRefineSerializer,
        responses={200: VersionSerializer, **error_responses(400, 403, 404)},
    )
    @action(detail=True, methods=["post", "put"], url_path="feature-schema", parser_classes=[JSONParser])
    def feature_schema(self, request, passport_key=None, number=None):
        version = self.get_object()
        data = _validated(FeatureSchemaRefineSerializer, request.data)
        version = services.version_refine_schema(actor=request.user, version=version,
                                                 feature_schema=data["feature_schema"])
        return Response(self.get_serializer(version).data)

    @extend_schema(
        summary="Download a version's ONNX artifact",
        description="Streams the ONNX file to anyone who may view the passport; the `X-Artifact-SHA256` header "
        "carries its digest.",
        parameters=[VERSION_NUMBER, OpenApiParameter("format", exclude=True)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   **error_responses(403, 404, media_type="application/json")},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, OnnxRenderer])
    def artifact(self, request, passport_key=None, number=None):
        version = self.get_object()
        response = FileResponse(version.artifact.open("rb"), as_attachment=True,
                                filename=f"{version.passport.key}-v{version.number}.onnx",
                                content_type="application/octet-stream")
        response["X-Artifact-SHA256"] = version.sha256
        return response


@extend_schema_view(
    list=extend_schema(summary="List a passport's datasets", responses={200: DatasetSerializer(many=True),
                                                                        **error_responses(403, 404)}),
    retrieve=extend_schema(summary="Get a dataset", parameters=[DATASET_ID],
                           responses={200: DatasetSerializer, **error_responses(403, 404)}),
)
@upload_limit("MG_MAX_DATASET_BYTES")
class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PassportChildViewSet):
    """Reference and validation datasets (CSV or Parquet) of a passport."""

    model = Dataset
    selector = staticmethod(selectors.dataset_list)
    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser]
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        summary="Upload a dataset",
        description="A CSV or Parquet file; its schema is inferred and its sha256 recorded.",
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={201: DatasetSerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request, passport_key=None):
        data = _validated(DatasetUploadSerializer, request.data)
        dataset = services.dataset_register(actor=request.user, passport=self.passport, upload=data["file"],
                                            name=data.get("name", ""), kind=data["kind"], fmt=data.get("format"))
        return Response(self.get_serializer(dataset).data, status=status.HTTP_201_CREATED)


FOLLOW_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The follow's id.")


@extend_schema_view(
    list=extend_schema(summary="List the MLflow models a passport follows",
                       responses={200: MlflowFollowSerializer(many=True), **error_responses(403, 404)}),
    retrieve=extend_schema(summary="Get a followed MLflow model", parameters=[FOLLOW_ID],
                           responses={200: MlflowFollowSerializer, **error_responses(403, 404)}),
)
class MlflowFollowViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PassportChildViewSet):
    """Registered MLflow models the platform follows for a passport: each version registered after the follow
    starts is imported as a draft by a periodic task (``MG_MLFLOW_FOLLOW_SECONDS``), as the person who started it,
    with the checks of any import. A refused version is recorded (``last_error``) and passed over."""

    model = MlflowFollow
    selector = staticmethod(selectors.mlflow_follow_list)
    serializer_class = MlflowFollowSerializer
    parser_classes = [JSONParser]
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        summary="Follow a registered MLflow model",
        description="Starts from the model's latest version (import what is there with `import-mlflow`). "
        "Refusals: `tracking_uri_not_allowed`, `mlflow_not_found`, `mlflow_unreachable`, `already_followed`, "
        "`invalid`.",
        request=MlflowFollowCreateSerializer,
        responses={201: MlflowFollowSerializer, **error_responses(400, 403, 404, 409)},
    )
    def create(self, request, passport_key=None):
        data = _validated(MlflowFollowCreateSerializer, request.data)
        follow = mlflow_follow.follow_start(actor=request.user, passport=self.passport, **data)
        return Response(self.get_serializer(follow).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Stop following", parameters=[FOLLOW_ID], request=None,
                   responses={200: MlflowFollowSerializer, **error_responses(403, 404)})
    @action(detail=True, methods=["post"])
    def stop(self, request, passport_key=None, pk=None):
        follow = mlflow_follow.follow_stop(actor=request.user, follow=self.get_object())
        return Response(self.get_serializer(follow).data)


@extend_schema_view(
    list=extend_schema(summary="List a passport's aliases", responses={200: AliasSerializer(many=True),
                                                                       **error_responses(403, 404)}),
    retrieve=extend_schema(summary="Get an alias", parameters=[ALIAS_NAME],
                           responses={200: AliasSerializer, **error_responses(403, 404)}),
)
class AliasViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PassportChildViewSet):
    """Movable names (``champion``, ``challenger``...) pointing at versions of a passport."""

    model = Alias
    selector = staticmethod(selectors.alias_list)
    serializer_class = AliasSerializer
    parser_classes = [JSONParser]
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    @extend_schema(
        summary="Point an alias at a version",
        description="Creates the alias if new. Production aliases (e.g. `champion`) may point only at an "
        "approved version.",
        parameters=[ALIAS_NAME],
        request=AliasSetSerializer,
        responses={200: AliasSerializer, **error_responses(400, 403, 404)},
    )
    def update(self, request, passport_key=None, name=None):
        number = _validated(AliasSetSerializer, request.data)["version"]
        version = self.passport_versions().filter(number=number).first()
        if version is None:
            raise ValidationError({"version": [f"No version {number} in this passport."]})
        alias = services.alias_set(actor=request.user, passport=self.passport, name=name, version=version)
        return Response(self.get_serializer(alias).data)

    def passport_versions(self):
        return selectors.version_list(user=self.request.user, passport=self.passport)
