"""The role groups the migrations make: the administrator's holds every permission the installation has, including
those of models added after the role groups were first made."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from governance.accounts.roles import ROLE_PERMISSIONS


@pytest.mark.django_db
def test_every_role_group_exists_and_the_administrators_holds_every_permission():
    groups = {group.name: group for group in Group.objects.prefetch_related("permissions")}
    assert set(ROLE_PERMISSIONS) <= set(groups) and all(groups[role].permissions.exists() for role in ROLE_PERMISSIONS)
    missing = Permission.objects.exclude(pk__in=groups["admin"].permissions.all())
    assert not missing.exists(), [f"{p.content_type.app_label}.{p.codename}" for p in missing]
