"""The audit chain: every write appends a linked event; verification catches tampering, deletion and gaps."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from core.actors import SYSTEM, worker
from governance.audit.models import AuditChainHead, AuditEvent
from governance.audit.services import GENESIS_HASH, audit_append, audit_verify, event_hash
from registry import services
from tests.factories import linear_onnx, onnx_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(passport, developer):
    services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=3)))
    services.passport_update(actor=developer, passport=passport, name="Credit score v2")
    return list(AuditEvent.objects.order_by("seq"))


def test_events_form_a_linked_chain(chain):
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert chain[0].prev_hash == GENESIS_HASH
    for prev, event in zip(chain, chain[1:], strict=False):
        assert event.prev_hash == prev.hash
        assert event_hash(event) == event.hash
    head = AuditChainHead.objects.get(pk=1)
    assert head.last_seq == chain[-1].seq and head.last_hash == chain[-1].hash
    result = audit_verify()
    assert result.ok and result.events_checked == len(chain)


def test_append_outside_a_transaction_is_refused(passport):
    # pytest-django wraps each test in a transaction; pretend the caller is outside one.
    with pytest.raises(RuntimeError, match="inside the transaction"):
        original = connection.in_atomic_block
        connection.in_atomic_block = False
        try:
            audit_append(actor=None, action="x", obj=passport)
        finally:
            connection.in_atomic_block = original


def test_failed_change_rolls_back_its_event(passport, outsider):
    before = AuditEvent.objects.count()
    with pytest.raises(Exception):
        services.passport_update(actor=outsider, passport=passport, name="hijack")
    assert AuditEvent.objects.count() == before


def _raw_update(sql: str, params):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A DBA bypassing the application: replica mode skips the append-only trigger.
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


def test_tampered_row_is_detected(chain):
    target = chain[1]
    _raw_update("UPDATE governance_auditevent SET object_repr = %s WHERE id = %s", ["forged", target.pk])
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_seq == target.seq and result.first_broken_id == target.pk
    assert "altered" in result.reason
    with pytest.raises(CommandError, match=f"BROKEN at event #{target.seq}"):
        call_command("audit_verify")


def test_tampered_digest_is_detected(chain):
    target = chain[-1]
    _raw_update("UPDATE governance_auditevent SET digests = %s WHERE id = %s", ['{"artifact_sha256": "00"}', target.pk])
    assert audit_verify().first_broken_seq == target.seq


def test_deleted_event_is_detected(chain):
    _raw_update("DELETE FROM governance_auditevent WHERE id = %s", [chain[1].pk])
    result = audit_verify()
    assert not result.ok and result.first_broken_seq == chain[2].seq and "gap" in result.reason


def test_deleted_tail_is_detected_by_the_head(chain):
    _raw_update("DELETE FROM governance_auditevent WHERE id = %s", [chain[-1].pk])
    result = audit_verify()
    assert not result.ok and "head" in result.reason


def test_rehashed_forgery_breaks_the_next_link(chain):
    """Recomputing the forged row's own hash is not enough: the next event still points at the old one."""
    target = chain[1]
    target.object_repr = "forged"
    new_hash = event_hash(target)
    _raw_update("UPDATE governance_auditevent SET object_repr = %s, hash = %s WHERE id = %s",
                ["forged", new_hash, target.pk])
    result = audit_verify()
    assert not result.ok and result.first_broken_seq == chain[2].seq and "link" in result.reason


def test_verify_command_succeeds_on_an_intact_chain(chain, capsys):
    call_command("audit_verify")
    assert f"{len(chain)} events" in capsys.readouterr().out


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete(chain):
    from django.db.utils import DatabaseError

    for sql in ("UPDATE governance_auditevent SET action = 'x' WHERE id = %s",
                "DELETE FROM governance_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [chain[0].pk])
    assert audit_verify().ok


def test_request_id_is_recorded(client, developer, passport):
    client.force_login(developer)
    from core.context import request_id_var

    token = request_id_var.set("req-123")
    try:
        services.passport_update(actor=developer, passport=passport, name="with request id")
    finally:
        request_id_var.reset(token)
    assert AuditEvent.objects.get(action="passport.changed").request_id == "req-123"


@pytest.mark.parametrize("actor", [None, "system", "worker w1", 42])
def test_an_event_needs_a_user_or_a_named_system_actor(passport, actor):
    before = AuditEvent.objects.count()
    with pytest.raises(TypeError, match="SystemActor"), transaction.atomic():
        audit_append(actor=actor, action="x", obj=passport)
    assert AuditEvent.objects.count() == before


def test_the_platform_is_recorded_by_its_name(passport):
    with transaction.atomic():
        first = audit_append(actor=SYSTEM, action="x", obj=passport)
        second = audit_append(actor=worker("celery@host-1"), action="y", obj=passport)
    assert (first.actor_id, first.actor_repr) == (None, "system")
    assert (second.actor_id, second.actor_repr) == (None, "worker celery@host-1")
    assert not SYSTEM.has_perm("registry.view_modelpassport", passport)
