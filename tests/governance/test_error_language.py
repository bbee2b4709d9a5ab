"""Refusals from the services are in the reader's language: the message is built when the rule refuses."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from governance.errors import PermissionDenied
from governance.services.signoffs import check_eligible
from tests.governance.workflow_helpers import Cast, register, to_validated

pytestmark = pytest.mark.django_db
CYRILLIC = re.compile("[А-Яа-яЁё]")


@pytest.fixture
def validated(passport, developer):
    cast = Cast()
    return to_validated(register(passport, developer), developer, cast)


def test_a_segregation_of_duties_refusal_in_english_and_russian(validated, developer):
    with translation.override("en"), pytest.raises(PermissionDenied) as english:
        check_eligible(developer, validated, "validator")
    assert english.value.message.startswith("Segregation of duties: you authored v1")
    with translation.override("ru"), pytest.raises(PermissionDenied) as russian:
        check_eligible(developer, validated, "validator")
    assert CYRILLIC.search(russian.value.message) and "v1" in russian.value.message
    assert english.value.code == russian.value.code == "sod_author"  # API clients rely on the code


def test_the_version_page_shows_a_refusal_in_russian(client, validated, developer):
    client.cookies["django_language"] = "ru"
    client.force_login(developer)
    url = reverse("governance:signoff_record", args=[validated.passport.key, validated.number])
    html = client.post(url, {"sign-role": "validator", "sign-decision": "approve", "sign-password": "pw-Secret-123",
                             "sign-comment": "mine"}).content.decode()
    assert "Разделение обязанностей" in html
