"""Refusals from the services are in the reader's language: the message is built when the rule refuses."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from core.errors import Conflict, DomainError, PermissionDenied
from governance.ledger import math as ledger_math
from governance.workflow.services import transitions as workflow
from governance.workflow.services.signoffs import check_eligible
from registry import services as registry_services
from tests.factories import UserFactory
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


def test_a_refused_transition_names_the_state_in_the_readers_language(validated, developer):
    with translation.override("en"), pytest.raises(Conflict) as english:
        workflow.version_submit(actor=developer, version=validated)
    assert english.value.message == "v1 is validated; it cannot become submitted."
    with translation.override("ru"), pytest.raises(Conflict) as russian:
        workflow.version_submit(actor=developer, version=validated)
    assert CYRILLIC.search(russian.value.message) and "validated" not in russian.value.message
    assert "валидирована" in russian.value.message  # the state's Russian label, not its raw value
    assert english.value.code == russian.value.code == "illegal_transition"


def _refusals(passport, developer):
    draft = register(passport, developer, seed=1)
    yield lambda: registry_services.version_refine_schema(actor=developer, version=draft,
                                                          feature_schema={"features": [{"name": "a"}]})
    yield lambda: ledger_math.currency_exponent("XXX")
    yield lambda: registry_services.passport_create(actor=UserFactory(), key="other")
    yield _refuse_without_a_message


def _refuse_without_a_message():
    raise PermissionDenied()


def test_registry_ledger_and_default_refusals_follow_the_language(passport, developer):
    for refuse in _refusals(passport, developer):
        messages = {}
        for language in ("en", "ru"):
            with translation.override(language), pytest.raises((DomainError, ValueError)) as refused:
                refuse()
            messages[language] = str(refused.value)
        assert not CYRILLIC.search(messages["en"]), messages
        assert CYRILLIC.search(messages["ru"]), messages


def test_validation_and_permission_refusals_in_russian(passport):
    from validation import thresholds

    with translation.override("ru"), pytest.raises(DomainError) as refused:
        thresholds.resolve(tier=7, depth="full")
    assert CYRILLIC.search(refused.value.message) and "7" in refused.value.message
    outsider = UserFactory(username="outsider-ru")
    with translation.override("ru"), pytest.raises(PermissionDenied) as denied:
        registry_services.passport_update(actor=outsider, passport=passport, name="x")
    assert CYRILLIC.search(denied.value.message) and passport.key in denied.value.message
