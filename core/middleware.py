"""Request id (taken from X-Request-ID when a balancer sets one, else generated; echoed back) and JSON errors
under ``/api/`` whatever layer produced them."""

import logging
import re
import uuid
from urllib.parse import unquote_plus

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from core import busy
from core.context import request_id_var, request_var
from core.uploads import RequestTooLarge

logger = logging.getLogger(__name__)
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        request_token = request_var.set(request)
        try:
            response = self.get_response(request)
        finally:
            request_var.reset(request_token)
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ApiJsonErrorsMiddleware:
    """Under ``/api/``, errors that never reached DRF's exception handler still come in the one JSON error shape:
    a URL the resolver rejects (``/api/v1/validation/runs/abc/``), a method or CSRF refusal from Django, and an
    unhandled exception (logged by Django as usual), which would otherwise be an HTML page (the debug page under
    local settings). Placed first, so it sees the response every other layer produced."""

    MESSAGES = {
        400: ("invalid", _("The request is malformed.")),
        403: ("permission_denied", _("You do not have permission to perform this action.")),
        404: ("not_found", _("No such resource.")),
        405: ("method_not_allowed", _("This method is not allowed on this endpoint.")),
        413: ("too_large", _("The request body is too large.")),
        500: ("server_error", _("The server failed to answer this request; the error was logged.")),
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code, message = self.MESSAGES.get(response.status_code, ("error", _("The request failed.")))
        replaced = JsonResponse({"error": {"code": code, "message": str(message), "field": None, "details": None}},
                                status=response.status_code)
        for header in ("Allow", "Retry-After", "X-Request-ID"):
            if header in response:
                replaced[header] = response[header]
        return replaced


def _refusal(request, status: int, code: str, message, template: str):
    """A refusal made here, before or around the view: the one JSON error shape under ``/api/``, a page
    otherwise."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": str(message), "field": None, "details": None}},
                            status=status)
    return render(request, template, {"message": message}, status=status)


NUL_MESSAGE = _("The address holds a NUL character (%00), which no name or value here may contain.")


class RequestRefusalsMiddleware:
    """A page whose write could not get its lock in time answers 503 with Retry-After (``core.busy``), not 500; an
    upload refused by its size (``core.uploads``) answers 413. A NUL character in the path or the query string is
    a 400 before any view sees it: PostgreSQL refuses NUL in text, so a key or a filter holding one ended in a
    database error (a 500) wherever it reached a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or "\x00" in unquote_plus(request.META.get("QUERY_STRING", "")):
            return _refusal(request, 400, "invalid", NUL_MESSAGE, "400.html")
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestTooLarge):  # an upload refused by its size, on a page
            return render(request, "413.html", {"message": exception.message}, status=413)
        if not busy.is_busy(exception):
            return None
        logger.warning("busy database on %s %s: %s", request.method, request.path, exception)
        response = _refusal(request, 503, "busy", busy.MESSAGE, "503.html")
        response["Retry-After"] = str(busy.RETRY_AFTER_SECONDS)
        return response
