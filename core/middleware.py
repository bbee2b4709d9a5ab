"""Request id: taken from X-Request-ID when a balancer sets one, else generated; echoed back."""

import re
import uuid

from core.context import request_id_var, request_var

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
