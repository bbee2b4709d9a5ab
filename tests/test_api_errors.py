"""Under /api/ every error has the documented JSON shape, whichever layer produced it; pages keep their HTML."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api_helpers import assert_error, bearer_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/validation/runs/abc/", "/api/v1/no-such-thing/", "/api/v2/",
                                  "/api/v1/passports/x/versions/not-a-number/"])
def test_a_path_the_router_rejects_is_a_json_404(developer, path, settings):
    settings.DEBUG = True  # the embedded default: Django's debug page is what would answer otherwise
    assert_error(bearer_client(developer).get(path), 404, "not_found")
    assert_error(APIClient().get(path), 404, "not_found")


def test_an_unhandled_error_is_a_json_500_and_is_logged(developer, monkeypatch, caplog, settings):
    from registry import selectors

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(selectors, "passport_list", broken)
    settings.DEBUG = True
    client = bearer_client(developer)
    client.raise_request_exception = False
    response = client.get("/api/v1/passports/")
    error = assert_error(response, 500, "server_error")
    assert "fire" not in error["message"]  # nothing of the internals leaks
    assert any("database on fire" in str(r.exc_info) for r in caplog.records if r.exc_info)


def test_pages_keep_their_html_404(client, developer):
    client.force_login(developer)
    response = client.get("/passports/no-such-passport/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


DEEP = [b"[" * 100_000, b'{"name": ' + b"[" * 100_000, b'{"a":' * 50_000]


@pytest.mark.parametrize("body", DEEP, ids=["array", "in-a-field", "objects"])
@pytest.mark.parametrize("path", ["/api/v1/passports/", "/api/v1/tokens/", "/api/v1/agent/enrol/"])
def test_a_json_body_nested_past_the_decoders_depth_is_a_400_parse_error(developer, path, body, settings):
    """The standard library gives up on deep nesting with RecursionError, which DRF's parser let through as a
    500; it is a malformed body like any other."""
    settings.DEBUG = True
    client = bearer_client(developer)
    client.raise_request_exception = False
    error = assert_error(client.post(path, data=body, content_type="application/json"), 400, "parse_error")
    assert "nested too deeply" in error["message"]
    error = assert_error(client.post(path, data=body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="ru"),
                         400, "parse_error")
    assert "вложено слишком глубоко" in error["message"]


def test_every_api_view_reads_json_through_the_guarded_parser():
    """A view naming DRF's own JSONParser would bring the 500 back: every view's parsers are the project's."""
    from django.urls import get_resolver
    from rest_framework import parsers as drf_parsers
    from rest_framework.settings import api_settings

    from core.api.parsers import JSONParser

    assert api_settings.DEFAULT_PARSER_CLASSES[0] is JSONParser
    seen = 0

    def walk(patterns):
        nonlocal seen
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
                continue
            view = getattr(pattern.callback, "cls", None)
            if view is None or not hasattr(view, "parser_classes"):
                continue
            actions = getattr(pattern.callback, "actions", None) or {}
            for handler in [view, *(getattr(view, name, None) for name in actions.values())]:
                classes = (getattr(handler, "kwargs", None) or {}).get("parser_classes", view.parser_classes)
                seen += 1
                assert drf_parsers.JSONParser not in classes, (pattern, view)
                assert not any(issubclass(c, drf_parsers.JSONParser) and c is not JSONParser for c in classes)

    walk(get_resolver().url_patterns)
    assert seen > 50


NUL_PATHS = ["/api/v1/passports/a%00b/", "/api/v1/serving/deployments/?passport=%00", "/api/v1/passports/?search=a%00",
             "/api/v1/passports/?ordering=name&x%00=1", "/api/v1/passports/?search=a+%00+b"]


@pytest.mark.parametrize("path", NUL_PATHS)
def test_a_nul_character_in_the_address_is_a_400_on_the_api(developer, path, settings):
    """PostgreSQL refuses NUL in text: a key or a filter holding one was a database error (a 500) wherever it
    reached a query. It is refused before any view, on SQLite alike."""
    settings.DEBUG = True
    client = bearer_client(developer)
    client.raise_request_exception = False
    error = assert_error(client.get(path), 400, "invalid")
    assert "NUL" in error["message"]
    assert "NUL" in assert_error(client.get(path, HTTP_ACCEPT_LANGUAGE="ru"), 400, "invalid")["message"]


@pytest.mark.parametrize("path", ["/passports/a%00b/", "/passports/?q=a%00b", "/serving/?x=%00"])
def test_a_nul_character_in_the_address_is_a_400_page(client, developer, path):
    client.force_login(developer)
    client.raise_request_exception = False
    response = client.get(path)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert 'id="bad-request-reason"' in response.content.decode() and response["X-Request-ID"]
    russian = client.get(path, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Этот адрес не удаётся прочитать" in russian
