"""Per-request context (the request id, the request) that services and receivers read without being handed it."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

# The request being served, for receivers of model signals (an admin change of roles or team membership) that
# must name who acted; None outside a request (a shell, a task).
request_var: ContextVar[object | None] = ContextVar("request", default=None)
