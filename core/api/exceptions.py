"""One error shape for every API error: ``{"error": {"code", "message", "field", "details"}}``."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from core import busy
from core.errors import DomainError


def _first_message(detail):
    if isinstance(detail, dict):
        for key, value in detail.items():
            field, message = _first_message(value)
            field = None if field == "non_field_errors" else field
            return (key if field is None or key == "non_field_errors" else f"{key}.{field}"), message
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return None, str(detail)


def _body(code, message, field=None, details=None):
    return {"error": {"code": code, "message": message, "field": field, "details": details}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(_body(exc.code, exc.message, exc.field, exc.details), status=exc.status_code)
    if busy.is_busy(exc):
        response = Response(_body("busy", str(busy.MESSAGE)), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(busy.RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(getattr(exc, "message_dict", None) or exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_message(exc.detail)
        field = None if field == "non_field_errors" else field
        prefix = f"{field}: " if field else ""
        response.data = _body("invalid", prefix + message, field, exc.detail)
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc.detail, dict | list):
            response.data = _body(code, str(exc.default_detail), None, exc.detail)
        else:
            response.data = _body(getattr(exc.detail, "code", code), str(exc.detail))
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response.data["error"]["code"] = "not_authenticated"
    return response
