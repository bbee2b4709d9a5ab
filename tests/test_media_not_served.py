"""Stored files are never served by URL: an artifact's path under /media/ answers 404 to anyone, even with DEBUG;
the permission-checked download serves it to a reader only."""

from __future__ import annotations

import importlib

import pytest
from django.test import override_settings
from django.urls import clear_url_caches

import governance.urls
from tests.api_helpers import bearer_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [True, False])
def test_media_paths_are_not_served(client, passport, developer, outsider, debug):
    from registry import services
    from tests.factories import linear_onnx, onnx_upload

    version = services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx()))
    with override_settings(DEBUG=debug):
        importlib.reload(governance.urls)  # the URL configuration as the embedded default (DEBUG) builds it
        clear_url_caches()
        for user in (None, outsider, developer):
            if user is not None:
                client.force_login(user)
            response = client.get(f"/media/{version.artifact.name}")
            assert response.status_code == 404
            assert b"ir_version" not in b"".join(getattr(response, "streaming_content", [response.content]))
    importlib.reload(governance.urls)
    clear_url_caches()
    artifact = f"/api/v1/passports/{passport.key}/versions/{version.number}/artifact/"
    assert bearer_client(developer).get(artifact).status_code == 200
    assert bearer_client(outsider).get(artifact).status_code == 404
