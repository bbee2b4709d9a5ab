"""A write that cannot get its lock in time answers 503 with Retry-After (API: the JSON error shape), never 500."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import OperationalError

from core.busy import is_busy
from tests.api_helpers import assert_error, bearer_client
from tests.ui.test_page_matrix import _edit_data

pytestmark = pytest.mark.django_db


def _locked(**kwargs):
    raise OperationalError("database is locked")


def test_the_api_answers_503_with_retry_after(owner, passport, monkeypatch):
    from registry import services

    monkeypatch.setattr(services, "passport_update", _locked)
    client = bearer_client(owner)
    client.raise_request_exception = False
    response = client.patch(f"/api/v1/passports/{passport.key}/", {"name": "Renamed"}, format="json")
    assert_error(response, 503, "busy")
    assert response["Retry-After"] == "2"


def test_a_page_answers_503_with_retry_after(client, owner, passport, monkeypatch):
    from registry import services

    monkeypatch.setattr(services, "passport_update", _locked)
    client.raise_request_exception = False
    client.force_login(owner)
    response = client.post(f"/passports/{passport.key}/edit/", _edit_data(SimpleNamespace(passport=passport)))
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert "busy" in response.content.decode().lower()


@pytest.mark.parametrize(("message", "busy"), [("database is locked", True), ("deadlock detected", True),
                                               ("canceling statement due to lock timeout", True),
                                               ("no such table: x", False)])
def test_only_lock_errors_count_as_busy(message, busy):
    assert is_busy(OperationalError(message)) is busy
    assert is_busy(RuntimeError(message)) is False
