"""The API's error shape in the OpenAPI schema (`error_responses`) and the id bound shared by every serializer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

# The largest value a 64-bit primary key can hold; bigger ids in input are refused as types, not looked up.
MAX_ID = 2**63 - 1


_ERROR_DESCRIPTIONS = {
    400: "Invalid input, or a business rule refused the action (`error.code` says which).",
    401: "Not authenticated: missing, malformed, expired or revoked credentials.",
    403: "Authenticated, but the token lacks the scope (`missing_scope`: `details.required_scope` names it) or the "
         "user may not perform this action (the message says which rule).",
    404: "No such object, or one the user may not see (the two look alike); on lists, no such page.",
    405: "This method is not allowed on this endpoint.",
    409: "The action collides with the current state (a duplicate, a concurrent change).",
    410: "The link was valid once and has expired.",
    501: "This installation lacks an optional part the endpoint needs (`error.details` says how to install it).",
}


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `invalid`, `not_found`, `not_onnx`.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    field = serializers.CharField(allow_null=True, help_text="The input field at fault, if any.")
    details = serializers.JSONField(allow_null=True, help_text="Further structured detail, if any.")


class ErrorSerializer(serializers.Serializer):
    """``{"error": {...}}``: the shape of every error the API returns."""

    error = ErrorBodySerializer()


def error_responses(*statuses: int, media_type: str | None = None) -> dict:
    """OpenAPI responses in the one error shape for the given status codes (401 is always included).

    ``media_type`` pins the errors to one content type (for views that also render something else).
    """
    return {
        (status, media_type) if media_type else status: OpenApiResponse(
            ErrorSerializer, description=_ERROR_DESCRIPTIONS[status]
        )
        for status in sorted({401, *statuses})
    }


def validated(serializer_class, data, **kwargs) -> dict:
    """``data`` checked by ``serializer_class`` (400 in the one error shape otherwise), as a plain dict."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
