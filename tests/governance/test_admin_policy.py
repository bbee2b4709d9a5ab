"""The admin edits tier policies through the policy service: a refused value stays on the form, nothing saved."""

import json

import pytest
from django.urls import reverse

from governance.audit.models import AuditEvent
from governance.workflow.models import RiskTierPolicy

pytestmark = pytest.mark.django_db


def _post(client, policy, roles):
    url = reverse("admin:governance_risktierpolicy_change", args=[policy.pk])
    return client.post(url, {
        "required_roles": json.dumps(roles), "checklist_required": "on" if policy.checklist_required else "",
        "validation_depth": policy.validation_depth, "approval_validity_months": policy.approval_validity_months,
    })


def test_admin_refusal_is_shown_on_the_form_and_saves_nothing(client, admin_user):
    client.force_login(admin_user)
    policy = RiskTierPolicy.objects.get(tier=3)
    before, events = policy.required_roles, AuditEvent.objects.count()
    response = _post(client, policy, ["business_owner"])
    assert response.status_code == 200  # the form again, not a redirect to the list with "changed successfully"
    assert "independent validator" in response.content.decode()
    policy.refresh_from_db()
    assert policy.required_roles == before and AuditEvent.objects.count() == events


def test_admin_change_goes_through_the_service(client, admin_user):
    client.force_login(admin_user)
    policy = RiskTierPolicy.objects.get(tier=3)
    response = _post(client, policy, ["validator", "risk_officer", "business_owner"])
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.required_roles == ["validator", "risk_officer", "business_owner"]
    assert policy.updated_by == admin_user
    assert AuditEvent.objects.filter(action="policy.changed").exists()
