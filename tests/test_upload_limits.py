"""An upload over its endpoint's limit is refused from its declared length, before its body is read, in the JSON
error shape (413) on the API and with a 413 page in the UI; nothing lands on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api_helpers import API, assert_error, bearer_client, media_files
from tests.factories import linear_onnx

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limits(settings, tmp_path):
    settings.MG_MAX_ARTIFACT_BYTES = 64 * 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # anything bigger would be streamed to a temporary file
    return Path(settings.FILE_UPLOAD_TEMP_DIR)


def test_an_oversized_artifact_is_refused_before_its_body_is_read(developer, passport, small_limits):
    big = linear_onnx() + b"\0" * (3 * 1024 * 1024)  # 3 MiB against a 64 KiB limit
    response = bearer_client(developer).post(f"{API}/passports/{passport.key}/versions/",
                                             {"artifact": SimpleUploadedFile("big.onnx", big)}, format="multipart")
    error = assert_error(response, 413, "too_large")
    assert error["details"]["size"] > error["details"]["max_bytes"]
    assert list(small_limits.iterdir()) == [] and media_files() == []  # no temporary copy, nothing stored
    assert not passport.versions.exists()


def test_an_oversized_upload_on_a_page_answers_413(client, developer, passport, small_limits):
    client.force_login(developer)
    big = SimpleUploadedFile("big.onnx", b"\0" * (3 * 1024 * 1024))
    response = client.post(f"/passports/{passport.key}/versions/upload/", {"artifact": big})
    assert response.status_code == 413 and "too large" in response.content.decode().lower()
    assert list(small_limits.iterdir()) == [] and not passport.versions.exists()


def test_an_upload_within_the_limit_is_hashed_in_place(developer, passport, small_limits, settings):
    settings.MG_MAX_ARTIFACT_BYTES = 10 * 1024 * 1024
    model = linear_onnx(n_features=2000)  # 8 KB of weights: Django streams it to a temporary file
    assert len(model) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = bearer_client(developer).post(f"{API}/passports/{passport.key}/versions/",
                                             {"artifact": SimpleUploadedFile("m.onnx", model)}, format="multipart")
    assert response.status_code == 201, response.content[:300]
    assert not (Path(settings.MEDIA_ROOT) / "tmp").exists() or not any((Path(settings.MEDIA_ROOT) / "tmp").iterdir())
