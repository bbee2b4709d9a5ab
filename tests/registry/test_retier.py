"""Re-tiering is its own service: risk officers and administrators, with a reason, never lowering a tier without a
risk officer or while a version is under review; its event says what changed and why."""

from __future__ import annotations

import pytest

from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.workflow.models import VersionReview
from governance.workflow.services import transitions as workflow
from registry import services
from tests.factories import UserFactory
from tests.governance.workflow_helpers import register

pytestmark = pytest.mark.django_db
LOW = {"materiality": "low", "decision_type": "human_in_the_loop", "processes_personal_data": False,
       "regulatory_exposure": "none"}
HIGH = {"materiality": "high", "decision_type": "automated", "processes_personal_data": True,
        "regulatory_exposure": "high"}


@pytest.fixture
def risk():
    return UserFactory(username="risk", roles=["risk_officer"])


def test_only_risk_officers_and_admins_retier_and_a_reason_is_required(passport, developer, owner, admin_user, risk):
    for user in (developer, owner):
        with pytest.raises(PermissionDenied):
            services.passport_retier(actor=user, passport=passport, reason="Cheaper.", **LOW)
    with pytest.raises(DomainError, match="reason"):
        services.passport_retier(actor=risk, passport=passport, reason="  ", **LOW)
    with pytest.raises(PermissionDenied) as refused:  # an administrator may raise, never lower
        services.passport_retier(actor=admin_user, passport=passport, reason="Cheaper.", **LOW)
    assert refused.value.code == "risk_officer_required"
    passport.refresh_from_db()
    assert passport.risk_tier == 1 and not AuditEvent.objects.filter(action="passport.retiered").exists()
    services.passport_retier(actor=risk, passport=passport, reason="Now advisory only.", **LOW)
    passport.refresh_from_db()
    assert passport.risk_tier == 3
    event = AuditEvent.objects.get(action="passport.retiered")
    assert event.actor == risk and event.data["reason"] == "Now advisory only."
    assert event.data["risk_tier"] == {"old": 1, "new": 3} and event.data["changes"]["materiality"]["new"] == "low"
    services.passport_retier(actor=admin_user, passport=passport, reason="Automated again.", **HIGH)
    passport.refresh_from_db()
    assert passport.risk_tier == 1


def test_under_review_the_tier_may_only_rise(passport, developer, owner, risk):
    services.passport_retier(actor=risk, passport=passport, reason="Start low.", **LOW)
    version = register(passport, developer)
    workflow.version_submit(actor=developer, version=version)  # under review, with the tier-3 policy
    with pytest.raises(Conflict) as refused:
        services.passport_retier(actor=risk, passport=passport, reason="New owner.",
                                 business_owner=UserFactory(username="new-owner"))
    assert refused.value.code == "under_review" and refused.value.details == {"versions": [version.number]}
    services.passport_retier(actor=risk, passport=passport, reason="Found automated decisions.", **HIGH)
    passport.refresh_from_db()
    assert passport.risk_tier == 1
    assert VersionReview.objects.get(version=version).policy["tier"] == 3  # the review keeps its policy
    with pytest.raises(Conflict):
        services.passport_retier(actor=risk, passport=passport, reason="Back down.", **LOW)


def _retier_data(passport, **changes) -> dict:
    data = {"materiality": passport.materiality, "decision_type": passport.decision_type,
            "regulatory_exposure": passport.regulatory_exposure, "business_owner": passport.business_owner_id,
            "reason": "Quarterly tiering review."}
    if passport.processes_personal_data:
        data["processes_personal_data"] = "on"
    return {**data, **changes}


def test_the_retier_page_is_the_risk_officers_and_says_why_it_refuses(client, passport, developer, risk):
    url = f"/passports/{passport.key}/retier/"
    client.force_login(developer)
    assert client.get(url).status_code == 403
    detail = client.get(f"/passports/{passport.key}/").content.decode()
    assert url not in detail
    client.force_login(risk)
    assert url in client.get(f"/passports/{passport.key}/").content.decode()
    page = client.get(url)
    assert page.status_code == 200 and "What re-tiering does" in page.content.decode()
    assert client.post(url, _retier_data(passport, reason="")).status_code == 400  # a reason is required
    register_and_submit = register(passport, developer)
    workflow.version_submit(actor=developer, version=register_and_submit)
    refused = client.post(url, _retier_data(passport, materiality="low", decision_type="human_in_the_loop",
                                            regulatory_exposure="none"))
    passport.refresh_from_db()
    assert refused.status_code == 400 and passport.risk_tier == 1
    assert "under review" in refused.content.decode() or "only rise" in refused.content.decode()
    assert not AuditEvent.objects.filter(action="passport.retiered").exists()
