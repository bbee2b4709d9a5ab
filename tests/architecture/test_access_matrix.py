"""Every door has a row in the access matrix: each operation of the OpenAPI schema and each page of the URL
configuration. A new route without a row fails here, naming it."""

from __future__ import annotations

import importlib
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from tests.api_helpers import API, Endpoint

# The modules whose module-level Endpoint rows make the API's matrix (each runs them with check_endpoint).
API_MATRICES = ("tests.registry.test_api", "tests.governance.test_api", "tests.governance.test_workflow_api",
                "tests.governance.test_ledger_api", "tests.validation.test_api_matrix",
                "tests.serving.test_api_matrix", "tests.governance.test_webhooks")
PAGE_MATRICES = ("tests.ui.test_page_matrix", "tests.serving.test_pages", "tests.governance.test_webhooks")
NOT_PAGES = ("api/", "admin/", "i18n/")  # the API (matrix above), Django's admin, the language switch


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def api_rows() -> set[tuple[str, str]]:
    rows = set()
    for name in API_MATRICES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            for row in (value if isinstance(value, list | tuple) else [value]):
                if isinstance(row, Endpoint):
                    rows.add((row.method.upper(), API + re.sub(r"\{w\.[^}]+\}", "X", row.url).split("?")[0]))
    return rows


def uncovered_operations(operations, rows) -> list[tuple[str, str]]:
    """The schema operations that no row's method and URL match (a path parameter matches any segment)."""
    def matches(path: str, url: str) -> bool:
        return re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)), url) is not None

    return sorted((method, path) for method, path in operations
                  if not any(m == method and matches(path, url) for m, url in rows))


def page_names() -> set[str]:
    def walk(patterns, prefix="", namespace=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
            elif isinstance(pattern, URLPattern) and not (prefix + str(pattern.pattern)).startswith(NOT_PAGES):
                yield f"{namespace}{pattern.name}"

    return set(walk(get_resolver().url_patterns))


def test_every_api_operation_has_a_row():
    assert uncovered_operations(schema_operations(), api_rows()) == []


def test_every_page_has_a_row():
    rows = {page.name for name in PAGE_MATRICES for page in importlib.import_module(name).PAGES}
    assert sorted(page_names() - rows) == []
    assert sorted(rows - page_names()) == [], "rows for pages that no longer exist"


@pytest.mark.parametrize("extra", [("DELETE", "/api/v1/passports/{key}/"), ("GET", "/api/v1/new-things/{id}/")])
def test_a_new_operation_without_a_row_is_named(extra):
    assert uncovered_operations(schema_operations() | {extra}, api_rows()) == [extra]
