"""Rules asked across rooms: relations that no role or superuser flag answers, and hooks that fail loudly."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.hooks import Hook, Slot
from registry import hooks as registry_hooks
from registry import permissions as registry_perms
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import Cast, register, to_in_validation
from validation import hooks as validation_hooks
from validation import permissions as validation_perms

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting():
    developer = UserFactory(username="dev", roles=["model_developer"])
    team = TeamFactory(name="Scoring", members=[developer])
    passport = make_passport(actor=developer, team=team)
    cast = Cast()
    version = to_in_validation(register(passport, developer), developer, cast)
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True, roles=["admin", "validator"])
    return developer, passport, version, cast, superuser


def test_only_the_assigned_validator_is_assigned_whatever_their_roles(setting):
    developer, _, version, cast, superuser = setting
    assert cast.validator.has_perm(validation_perms.ASSIGNED, version)
    for user in (cast.validator2, cast.risk, developer, superuser):
        assert not user.has_perm(validation_perms.ASSIGNED, version), user
    cast.validator.is_active = False
    assert not cast.validator.has_perm(validation_perms.ASSIGNED, version)
    assert not cast.validator.has_perm(validation_perms.ASSIGNED, None)


def test_team_membership_is_a_fact_no_grant_can_fake(setting):
    developer, passport, version, cast, superuser = setting
    assert developer.has_perm(registry_perms.TEAM_MEMBER, passport)
    assert developer.has_perm(registry_perms.TEAM_MEMBER, version)  # judged by the version's passport
    assert not superuser.has_perm(registry_perms.TEAM_MEMBER, passport)
    passport.development_team.members.add(superuser)
    assert superuser.has_perm(registry_perms.TEAM_MEMBER, passport)


def test_a_superuser_not_assigned_cannot_start_a_validation_run(setting):
    from core.errors import PermissionDenied
    from validation import services as validation_services

    _, _, version, _, superuser = setting
    with pytest.raises(PermissionDenied):
        validation_services.report_issue_uploaded(actor=superuser, version=version, upload=None, conclusion="x",
                                                  rating="fit")


def test_the_rooms_above_fill_the_hooks_of_the_rooms_below(setting):
    _, _, version, _, _ = setting
    assert validation_hooks.review_policy.provided
    assert validation_hooks.review_policy(version)["validation_depth"]
    assert validation_hooks.version_findings(version) == []
    assert "ledger" in registry_hooks.passport_abilities(UserFactory(username="x"), version.passport)


def test_an_unprovided_required_hook_says_so():
    hook = Hook("test.required")
    with pytest.raises(ImproperlyConfigured, match="test.required"):
        hook(1)
    assert Hook("test.optional", default=lambda x: x * 2)(21) == 42
    slot = Slot("test.slot")
    assert slot() == {}
    slot.provide(lambda: {"a": 1})
    slot.provide(lambda: {"b": 2})
    assert slot() == {"a": 1, "b": 2}
