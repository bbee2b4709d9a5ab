"""Object permissions: one place decides, for the UI and the API alike."""

import pytest
from django.http import Http404
from guardian.shortcuts import assign_perm

from registry import permissions as perms
from registry import selectors
from tests.factories import TeamFactory, UserFactory, make_passport

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_passport(db):
    author = UserFactory(username="other-dev", roles=["model_developer"])
    return make_passport(actor=author, key="other-model", team=TeamFactory(name="Other team", members=[author]))


def visible_keys(user):
    return set(selectors.passport_list(user=user).values_list("key", flat=True))


def test_deny_by_default(outsider, passport, second_passport):
    assert visible_keys(outsider) == set()
    for perm in (perms.VIEW, perms.CHANGE, perms.UPLOAD, perms.MOVE_ALIAS):
        assert not outsider.has_perm(perm, passport)
    with pytest.raises(Http404):
        selectors.passport_get(user=outsider, key=passport.key)


def test_missing_and_forbidden_look_alike(outsider, passport):
    with pytest.raises(Http404) as forbidden:
        selectors.passport_get(user=outsider, key=passport.key)
    with pytest.raises(Http404) as missing:
        selectors.passport_get(user=outsider, key="does-not-exist")
    assert str(forbidden.value) == str(missing.value)


def test_team_members_see_and_upload_but_do_not_change(developer, passport, second_passport):
    assert visible_keys(developer) == {passport.key}
    assert developer.has_perm(perms.UPLOAD, passport) and not developer.has_perm(perms.UPLOAD, second_passport)


def test_owners_change_their_passport(owner, passport):
    assert owner.has_perm(perms.CHANGE, passport) and owner.has_perm(perms.VIEW, passport)
    assert not owner.has_perm(perms.UPLOAD, passport)  # business owner is not the developer


def test_read_roles_see_everything_but_change_nothing(auditor, validator, passport, second_passport):
    for user in (auditor, validator):
        assert visible_keys(user) == {passport.key, second_passport.key}
        assert not user.has_perm(perms.CHANGE, passport) and not user.has_perm(perms.UPLOAD, passport)


def test_guardian_grant_on_one_object(outsider, passport, second_passport):
    assign_perm(perms.VIEW, outsider, passport)
    assert visible_keys(outsider) == {passport.key}
    assert outsider.has_perm(perms.VIEW, passport) and not outsider.has_perm(perms.VIEW, second_passport)


def test_inactive_user_has_nothing(developer, passport):
    developer.is_active = False
    developer.save()
    assert not developer.has_perm(perms.VIEW, passport)
    assert visible_keys(developer) == set()


def test_versions_follow_their_passport(developer, passport, second_passport, outsider):
    from registry import services
    from tests.factories import onnx_upload

    services.version_register(actor=developer, passport=passport, upload=onnx_upload())
    assert selectors.version_list(user=developer).count() == 1
    assert selectors.version_list(user=outsider).count() == 0
    with pytest.raises(Http404):
        selectors.version_get(user=outsider, passport_key=passport.key, number=1)


def test_every_path_to_a_passport_lists_it_once(passport, second_passport):
    """Owner, technical owner, member of two teams and holder of a grant at once: one row, counted once."""
    user = UserFactory(username="many-paths", roles=["model_developer"])
    passport.development_team.members.add(user)
    TeamFactory(name="Second team of the same user", members=[user])
    type(passport).objects.filter(pk=passport.pk).update(business_owner=user, technical_owner=user)
    assign_perm(perms.VIEW, user, passport)
    listed = selectors.passport_list(user=user)
    assert list(listed.values_list("key", flat=True)) == [passport.key] and listed.count() == 1
