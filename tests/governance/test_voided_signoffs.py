"""Sign-offs never stop counting in silence: signing while inputs are not final asks for confirmation, and a
change that voids a sign-off records when and why on it, audits it, and tells its signer (e-mail and My
reviews), on the service, the API and the pages alike."""

from __future__ import annotations

import pytest
from django.core import mail

from core.errors import DomainError
from governance.audit.models import AuditEvent
from governance.workflow.models import ChecklistItem, SignOff
from governance.workflow.selectors import voided_signoffs
from governance.workflow.services import findings
from tests.api_helpers import assert_error, bearer_client
from tests.governance.workflow_helpers import (
    PASSWORD,
    answer_checklist,
    issue_report,
    register,
    sign,
    to_validated,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def validated(passport, developer, cast):
    """A tier-1 version, validated, whose OWASP checklist security has not answered yet."""
    return to_validated(register(passport, developer), developer, cast)


def test_an_approval_while_the_checklist_is_open_needs_a_confirmation(validated, cast):
    with pytest.raises(DomainError) as refused:
        sign(validated, cast.validator, "validator")
    assert refused.value.code == "inputs_pending" and "OWASP checklist" in refused.value.details["pending"][0]
    assert not SignOff.objects.filter(version=validated).exists()
    signoff = sign(validated, cast.validator, "validator", acknowledge_pending=True)
    event = AuditEvent.objects.get(action="signoff.recorded", object_id=str(signoff.pk))
    assert "OWASP checklist" in event.data["pending_acknowledged"][0]
    # a rejection needs no confirmation, and nothing pending needs none either
    answer_checklist(validated, cast.security)
    assert sign(validated, cast.risk, "risk_officer").pk


def test_a_checklist_answer_voids_a_sign_off_and_tells_its_signer(validated, cast,
                                                                 django_capture_on_commit_callbacks):
    signoff = sign(validated, cast.validator, "validator", acknowledge_pending=True)
    item = ChecklistItem.objects.get(version=validated, code="ML03")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        findings.checklist_answer(actor=cast.security, item=item, status="open", evidence="Poisoning not tested.")
    signoff.refresh_from_db()
    assert signoff.voided_at is not None and "ML03" in signoff.voided_reason and "sec" in signoff.voided_reason
    voided = AuditEvent.objects.get(action="signoff.voided")
    assert voided.data["signer"] == "val" and voided.data["role"] == "validator"
    (message,) = [m for m in mail.outbox if cast.validator.email in m.to]
    assert "no longer counts" in message.subject and "ML03" in message.body
    assert [s.pk for s in voided_signoffs(user=cast.validator)] == [signoff.pk]
    # a second change does not void it again or write to the signer again
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        findings.checklist_answer(actor=cast.security, item=item, status="mitigated", evidence="Tested now.")
    assert AuditEvent.objects.filter(action="signoff.voided").count() == 1 and not mail.outbox
    # signing again takes it off My reviews
    sign(validated, cast.validator, "validator", acknowledge_pending=True)
    assert voided_signoffs(user=cast.validator) == []


def test_a_new_report_voids_the_sign_offs_bound_to_the_old_one(validated, cast):
    answer_checklist(validated, cast.security)
    signoff = sign(validated, cast.risk, "risk_officer")
    issue_report(validated, cast.validator, text="a corrected report")
    signoff.refresh_from_db()
    assert signoff.voided_at and "new validation report" in signoff.voided_reason


def test_the_api_refuses_an_unconfirmed_approval_and_shows_voided_sign_offs(validated, cast):
    client = bearer_client(cast.validator)
    url = f"/api/v1/passports/{validated.passport.key}/versions/{validated.number}/signoffs/"
    body = {"role": "validator", "decision": "approve", "password": PASSWORD}
    response = client.post(url, body, format="json")
    assert_error(response, 400, "inputs_pending")
    assert "OWASP checklist" in response.json()["error"]["details"]["pending"][0]
    response = client.post(url, {**body, "acknowledge_pending": True}, format="json")
    assert response.status_code == 201 and response.json()["voided_at"] is None
    answer_checklist(validated, cast.security)
    listed = client.get(url).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows[0]["voided_at"] and "OWASP checklist item" in rows[0]["voided_reason"]


def test_the_sign_form_lists_what_is_not_final_and_my_reviews_lists_voided_sign_offs(client, validated, cast):
    client.force_login(cast.validator)
    page = client.get(f"/passports/{validated.passport.key}/versions/{validated.number}/").content.decode()
    assert "Not final yet" in page and "OWASP checklist" in page and "sign-acknowledge_pending" in page
    response = client.post(f"/passports/{validated.passport.key}/versions/{validated.number}/review/sign/",
                           {"sign-role": "validator", "sign-decision": "approve", "sign-password": PASSWORD,
                            "sign-cond-TOTAL_FORMS": "0", "sign-cond-INITIAL_FORMS": "0"})
    assert response.status_code == 400 and "confirm that you sign anyway" in response.content.decode()
    assert not SignOff.objects.filter(version=validated).exists()
    client.post(f"/passports/{validated.passport.key}/versions/{validated.number}/review/sign/",
                {"sign-role": "validator", "sign-decision": "approve", "sign-password": PASSWORD,
                 "sign-acknowledge_pending": "on", "sign-cond-TOTAL_FORMS": "0", "sign-cond-INITIAL_FORMS": "0"})
    assert SignOff.objects.filter(version=validated, signer=cast.validator).exists()
    answer_checklist(validated, cast.security)
    inbox = client.get("/reviews/").content.decode()
    assert "Your sign-offs that stopped counting" in inbox and "Review and sign again" in inbox
