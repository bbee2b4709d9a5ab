"""Login is throttled per account and per client address, with counters every process shares (the database),
a clear answer and an audit event; the right password after the limit does not get in."""

from __future__ import annotations

import pytest

from governance.audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pw-Secret-123"


def _login(client, username, password, ip="10.1.2.3"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_twenty_wrong_passwords_then_the_right_one_does_not_log_in(client, settings):
    user = UserFactory(username="target", roles=["auditor"])
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _login(client, "target", f"wrong-{attempt}")
        assert response.status_code == 200 and "_auth_user_id" not in client.session  # the form, with its error
    locked = _login(client, "target", "wrong-last")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    for attempt in range(15):
        _login(client, "target", f"more-{attempt}")
    response = _login(client, "target", PASSWORD)
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(action="user.login_locked_out", object_id=str(user.pk)).first()
    assert event is not None and event.data["username"] == "target"


def test_the_account_stays_locked_from_another_address_and_the_address_for_other_accounts(client, settings):
    UserFactory(username="a")
    UserFactory(username="b")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "a", f"wrong-{attempt}", ip="10.0.0.1")
    assert _login(client, "a", PASSWORD, ip="10.0.0.2").status_code == 429  # the account, from elsewhere
    assert _login(client, "b", PASSWORD, ip="10.0.0.1").status_code == 429  # the address, for another account
    response = _login(client, "b", PASSWORD, ip="10.0.0.3")  # neither locked: in
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_a_success_before_the_limit_resets_the_count(client, settings):
    UserFactory(username="c")
    for _round in range(3):
        for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
            _login(client, "c", f"wrong-{attempt}", ip="10.0.0.9")
        assert _login(client, "c", PASSWORD, ip="10.0.0.9").status_code == 302
        client.logout()
