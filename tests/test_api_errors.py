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
