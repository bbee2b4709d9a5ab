"""What every operation can answer whatever its own responses say, added to the OpenAPI schema once (a
drf-spectacular post-processing hook): 429 from the throttles every API view runs (and the sign-off's
re-authentication throttle), 503 when the database is too busy to take a write; both in the one error shape
with ``Retry-After``. And 400 for an address holding a NUL character, refused before any view
(``core.middleware``), where an operation documents no 400 of its own."""

from __future__ import annotations

METHODS = {"get", "put", "post", "patch", "delete"}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 0},
                               "description": "Seconds to wait before trying again."}}
ANSWERS = {
    "429": "Too many requests (per client, per user, or wrong passwords at sign-off): wait `Retry-After` seconds.",
    "503": "The database is busy with other changes; nothing was changed: try again after `Retry-After` seconds.",
}

NUL_ANSWER = "The address holds a NUL character (`%00`), which no name or value may contain (`invalid`)."


def document_throttling_and_busy(result, generator, request, public):
    error = {"$ref": "#/components/schemas/Error"}
    if "Error" not in result.get("components", {}).get("schemas", {}):
        return result
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ANSWERS.items():
                responses.setdefault(status, {"description": description, "headers": RETRY_AFTER,
                                              "content": {"application/json": {"schema": error}}})
            responses.setdefault("400", {"description": NUL_ANSWER, "content": {"application/json": {"schema": error}}})
    return result
