"""Per-request context (the request id) that services read without being handed the request."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
