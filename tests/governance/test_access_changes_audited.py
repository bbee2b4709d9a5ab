"""Who may do what changes only on the record: roles, permissions, object grants, team membership and user flags,
made in the admin or anywhere else, each append an audit event naming who made the change."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm, remove_perm

from governance.accounts.models import Team
from governance.audit.models import AuditEvent
from governance.audit.services import audit_verify
from tests.factories import BusinessUnitFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


@pytest.fixture
def admin_user():
    return UserFactory(username="root", is_superuser=True, is_staff=True, roles=["admin"])


def test_team_membership_changed_in_the_admin_names_the_administrator(client, admin_user):
    dev, other = UserFactory(username="dev"), UserFactory(username="other")
    team = TeamFactory(name="Scoring", members=[dev])
    client.force_login(admin_user)
    response = client.post(f"/admin/governance/team/{team.pk}/change/",
                           {"name": "Scoring", "members": [other.pk]})
    assert response.status_code == 302, response.content[:500]
    added, removed = _events("team.members_added")[-1], _events("team.members_removed")[-1]
    assert added.actor == removed.actor == admin_user
    assert added.data["members"] == ["other"] and removed.data["members"] == ["dev"]
    assert added.object_id == str(team.pk)
    assert audit_verify().ok


def test_roles_and_permissions_granted_and_revoked_anywhere_are_recorded():
    user = UserFactory(username="newcomer")
    validators = Group.objects.get(name="validator")
    user.groups.add(validators)
    assert _events("user.roles_granted")[-1].data["roles"] == ["validator"]
    assert _events("user.roles_granted")[-1].actor_repr == "system"  # no request: the platform
    validators.user_set.remove(user)  # from the other side
    revoked = _events("user.roles_revoked")[-1]
    assert revoked.object_id == str(user.pk) and revoked.data["roles"] == ["validator"]
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    assert _events("user.permissions_granted")[-1].data["permissions"]
    user.groups.add(validators, Group.objects.get(name="auditor"))
    user.groups.clear()
    assert sorted(_events("user.roles_revoked")[-1].data["roles"]) == ["auditor", "validator"]


def test_object_grants_and_superuser_flags_are_recorded():
    finance, unit = UserFactory(username="fin", roles=["finance"]), BusinessUnitFactory(code="retail")
    assign_perm("governance.manage_ledger_businessunit", finance, unit)
    granted = _events("object_permission.granted")[-1]
    assert granted.data["permission"] == "manage_ledger_businessunit" and granted.data["object_id"] == str(unit.pk)
    remove_perm("governance.manage_ledger_businessunit", finance, unit)
    assert _events("object_permission.revoked")[-1].data["holder"] == "fin"
    finance.is_superuser = True
    finance.save()
    assert _events("user.flags_changed")[-1].data == {"is_superuser": True}
    finance.display_name = "Fin"
    finance.save()  # no flag changed: nothing recorded
    assert len(_events("user.flags_changed")) == 1
    assert Team.objects.count() == 0 and audit_verify().ok
