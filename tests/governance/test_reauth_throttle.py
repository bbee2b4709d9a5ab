"""Sign-off passwords cannot be guessed without limit, from the page or the API, and no answer tells whether a
password was right before every other rule has let the sign-off through."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from governance.audit.models import AuditEvent
from governance.workflow.models import SignOff
from tests.api_helpers import API, assert_error, bearer_client
from tests.governance.workflow_helpers import PASSWORD, Cast, register, sign, to_validated

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.MG_REAUTH_FAILURE_LIMIT, settings.MG_REAUTH_WINDOW_SECONDS = 5, 900
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def validated(passport, developer):
    cast = Cast()
    return to_validated(register(passport, developer), developer, cast), cast


def _page_sign(client, version, password):
    url = reverse("governance:signoff_record", args=[version.passport.key, version.number])
    return client.post(url, {"sign-role": "validator", "sign-decision": "approve", "sign-password": password,
                              "sign-acknowledge_pending": "on"})


def _api_sign(user, version, password):
    return bearer_client(user).post(f"{API}/passports/{version.passport.key}/versions/{version.number}/signoffs/",
                                    {"role": "validator", "decision": "approve", "password": password,
                                     "acknowledge_pending": True}, format="json")


def test_five_wrong_passwords_on_page_and_api_then_even_the_right_one_is_refused(client, validated):
    version, cast = validated
    client.force_login(cast.validator)
    for attempt in range(3):
        assert _page_sign(client, version, f"guess-{attempt}").status_code == 403
    for attempt in range(2):
        assert_error(_api_sign(cast.validator, version, f"guess-api-{attempt}"), 403, "reauth_failed")
    refused = _page_sign(client, version, PASSWORD)  # the right password, after five failures in the window
    assert refused.status_code == 429 and "Too many failed attempts" in refused.content.decode()
    assert_error(_api_sign(cast.validator, version, PASSWORD), 429, "throttled")
    assert not SignOff.objects.filter(version=version).exists()
    assert AuditEvent.objects.filter(action="signoff.reauth_failed").count() == 5
    cache.clear()  # the window has passed
    assert _page_sign(client, version, PASSWORD).status_code == 302
    assert SignOff.objects.filter(version=version, signer=cast.validator).exists()


def test_a_refused_sign_off_answers_the_same_whatever_the_password(client, validated, owner):
    version, cast = validated
    sign(version, cast.validator, "validator", acknowledge_pending=True)
    client.force_login(cast.validator)
    right, wrong = _page_sign(client, version, PASSWORD), _page_sign(client, version, "not-my-password")
    assert right.status_code == wrong.status_code == 409  # already signed: the password was never compared
    api_right, api_wrong = _api_sign(cast.validator, version, PASSWORD), _api_sign(cast.validator, version, "x")
    assert api_right.status_code == api_wrong.status_code == 409
    assert assert_error(api_right, 409)["message"] == assert_error(api_wrong, 409)["message"]
    assert not AuditEvent.objects.filter(action="signoff.reauth_failed").exists()
