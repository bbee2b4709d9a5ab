"""``POST /api/v1/validation/explanations/``: SHAP values and reason codes of chosen rows of a version.

A read: it stores nothing, so a token with ``registry:read`` may call it. The version and dataset come from
``registry.selectors`` (404 where the user may not see the passport); ``validation.explain.decisions`` computes.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from core.api.parsers import JSONParser
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from registry import selectors as registry_selectors
from validation.api.runs import _dataset
from validation.api.serializers import ExplainRequestSerializer, ExplanationSerializer
from validation.explain.decisions import explain_decisions


class ExplanationView(GenericAPIView):
    permission_classes = [Authenticated]
    scope = "registry"
    reads_only = True  # a POST that only computes: the read scope is enough
    parser_classes = [JSONParser]
    serializer_class = ExplainRequestSerializer
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="validation_explanations_create",
        summary="Explain single decisions of a version",
        description="SHAP values of up to 1,000 rows, given inline or by their numbers in one of the passport's "
        "datasets, against the version's reference data (its training dataset, else the passport's newest "
        "reference dataset): interventional or path-dependent TreeSHAP (exact, read from the ONNX trees; "
        "model-agnostic permutation SHAP for other graphs), on the raw-score or the probability scale. Each row "
        "has its prediction, every feature's value, the additivity check against ONNX Runtime's own output and "
        "its top reason codes in the caller's language (`Accept-Language`). Stores nothing. 400 names the bad "
        "field (a row with an unknown or missing feature, a row number past the end, too many rows); 409 "
        "`no_reference` when there is no reference data; 404 for a passport the user may not see.",
        request=ExplainRequestSerializer,
        responses={200: ExplanationSerializer, **error_responses(400, 403, 404, 409)},
    )
    def post(self, request):
        serializer = ExplainRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = registry_selectors.version_get(user=request.user, passport_key=data["passport"],
                                                 number=data["version"])
        dataset = (_dataset(request.user, version.passport, data["dataset"], "dataset")
                   if data.get("dataset") is not None else None)
        result = explain_decisions(version=version, rows=data.get("rows"), dataset=dataset,
                                   row_numbers=data.get("row_numbers"), algorithm=data["algorithm"],
                                   output=data["output"], top=data["top"])
        return Response(ExplanationSerializer(result).data)
