"""The audit chain's tail: TRUNCATE and a rewound or deleted head row are refused on PostgreSQL; a tail removed
anyway (by a table owner who switched the triggers off, or on SQLite) is caught against the signed checkpoints
kept outside the database, and verification names the first missing event."""

from __future__ import annotations

import json
import random
import string

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from core import signing
from governance.audit.checkpoints import FOLDER, checkpoint_if_grown, checkpoint_latest, checkpoint_write
from governance.audit.models import AuditChainHead, AuditEvent
from governance.audit.services import _event_rows, _row_hash, audit_append, audit_verify, event_hash
from registry import services
from tests.factories import linear_onnx, onnx_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(passport, developer):
    services.version_register(actor=developer, passport=passport, upload=onnx_upload(linear_onnx(seed=3)))
    for n in range(3):
        services.passport_update(actor=developer, passport=passport, name=f"Credit score v{n + 2}")
    return list(AuditEvent.objects.order_by("seq"))


def _owner_sql(*statements):
    """What a table owner can do whatever the triggers say: switch them off, act, switch them on again."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's pending foreign-key checks first
            cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE governance_auditchainhead DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE governance_auditchainhead ENABLE TRIGGER USER")


def _cut_tail(chain, keep: int):
    """Delete every event after the first ``keep`` and rewind the head to the last one kept."""
    last = chain[keep - 1]
    _owner_sql(("DELETE FROM governance_auditevent WHERE seq > %s", [keep]),
               ("UPDATE governance_auditchainhead SET last_seq = %s, last_hash = %s WHERE id = 1",
                [last.seq, last.hash]))


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["governance_auditevent", "governance_auditchainhead", "governance_ledgerentry"])
def test_postgres_refuses_truncate(chain, table):
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic(), connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own pending foreign-key checks, out of the way
        c.execute(f"TRUNCATE {table} CASCADE")
    assert audit_verify().ok and AuditEvent.objects.count() == len(chain)


@pytest.mark.postgres
@pytest.mark.parametrize(("sql", "params"), [
    ("DELETE FROM governance_auditchainhead WHERE id = 1", []),
    ("UPDATE governance_auditchainhead SET last_seq = last_seq - 1 WHERE id = 1", []),  # rewind
    ("UPDATE governance_auditchainhead SET last_seq = last_seq + 5 WHERE id = 1", []),  # to no event
    ("UPDATE governance_auditchainhead SET last_hash = %s WHERE id = 1", ["f" * 64]),  # same seq, other hash
    ("INSERT INTO governance_auditchainhead (id, last_seq, last_hash) VALUES (2, 7, %s)", ["0" * 64]),
])
def test_postgres_protects_the_head_row(chain, sql, params):
    with pytest.raises(DatabaseError, match="head"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    head = AuditChainHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (chain[-1].seq, chain[-1].hash)


def test_a_removed_tail_with_a_rewound_head_is_caught_by_the_signed_checkpoint(chain):
    checkpoint = checkpoint_write(reason="test")
    assert (checkpoint.seq, checkpoint.hash) == (chain[-1].seq, chain[-1].hash)
    keep = len(chain) - 2
    _cut_tail(chain, keep)
    without = audit_verify(against_checkpoint=False)
    assert without.ok  # what the database alone can tell: nothing
    result = audit_verify()
    assert not result.ok and result.first_missing_seq == keep + 1
    assert f"events #{keep + 1} to #{chain[-1].seq} are missing" in result.reason
    assert result.checkpoint["seq"] == chain[-1].seq
    with pytest.raises(CommandError, match=f"First missing event: #{keep + 1}"):
        call_command("audit_verify")


def test_a_gap_names_the_first_missing_event(chain):
    _owner_sql(("DELETE FROM governance_auditevent WHERE seq = %s", [3]))
    result = audit_verify()
    assert not result.ok and result.first_missing_seq == 3 and result.first_broken_seq == 4


def test_a_rewritten_tail_differs_from_the_checkpoint(chain, developer, passport):
    """The tail is replaced by a chain that links and hashes correctly but is not the one that was signed."""
    checkpoint_write(reason="test")
    keep = len(chain) - 1
    _cut_tail(chain, keep)
    with transaction.atomic():  # a different last event, appended properly
        audit_append(actor=developer, action="passport.changed", obj=passport, data={"forged": True})
    assert audit_verify(against_checkpoint=False).ok
    result = audit_verify()
    assert not result.ok and result.first_broken_seq == chain[-1].seq and "differs from the checkpoint" in result.reason


def test_the_anchor_folder_keeps_a_checkpoint_the_artifact_store_lost(chain, settings, tmp_path):
    settings.MG_AUDIT_ANCHOR_DIR = str(tmp_path / "worm")
    checkpoint = checkpoint_write(reason="test")
    anchored = tmp_path / "worm" / checkpoint.filename
    assert anchored.exists() and oct(anchored.stat().st_mode & 0o777) == "0o444"
    default_storage.delete(f"{FOLDER}/{checkpoint.filename}")  # the attacker cleans the artifact store too
    _cut_tail(chain, len(chain) - 1)
    result = audit_verify()
    assert not result.ok and result.first_missing_seq == len(chain)


def test_a_forged_checkpoint_is_reported_and_not_trusted(chain):
    real = checkpoint_write(reason="test")
    forged = {**real.as_dict(), "seq": real.seq + 100, "signature": real.signature}
    default_storage.save(f"{FOLDER}/{real.seq + 100:012d}-forged.json", _bytes(json.dumps(forged)))
    default_storage.save(f"{FOLDER}/{real.seq + 200:012d}-junk.json", _bytes("not json"))
    latest = checkpoint_latest()
    assert latest.checkpoint.seq == real.seq and len(latest.rejected) == 2
    result = audit_verify()
    assert not result.ok and "not validly signed" in result.reason and result.first_missing_seq is None


def test_a_checkpoint_signed_by_an_earlier_key_is_passed_over(chain, settings, tmp_path):
    checkpoint_write(reason="before the rotation")
    settings.MG_SIGNING_KEY_FILE = str(tmp_path / "rotated.pem")
    assert checkpoint_latest().checkpoint is None and audit_verify().ok
    assert checkpoint_if_grown(reason="scheduled").seq == chain[-1].seq
    assert checkpoint_if_grown(reason="scheduled") is None  # nothing appended since
    assert audit_verify().checkpoint["key_id"] == signing.key_id()


def _bytes(text: str):
    from django.core.files.base import ContentFile

    return ContentFile(text.encode())


def test_the_fast_walk_hashes_exactly_like_event_hash_on_hostile_values(passport, developer):
    rng = random.Random(7)
    alphabet = string.printable + "ёЁлка\u2028\u2029\x01\x1b\ud7ff\ue000€😀\"\\/"
    with transaction.atomic():
        for n in range(60):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            audit_append(actor=developer, action=f"test.{n}", obj=passport, passport_key=text[:100],
                         digests={"x": text, "n": n},
                         data={"text": text, "float": rng.random() * 10 ** rng.randint(-8, 20), "int": 2 ** 70,
                               "nested": {"b": [1, 2.5, None, True, text], "a": {}}, "": "empty key"})
    events = {e.seq: e for e in AuditEvent.objects.all()}
    rows = [row for batch in _event_rows() for row in batch]
    assert len(rows) == len(events) >= 60
    for row in rows:
        assert _row_hash(row) == event_hash(events[row[0]]), row
        assert event_hash(events[row[0]]) == events[row[0]].hash, events[row[0]].data
    assert audit_verify().ok


def test_the_checkpoint_task_is_registered_with_the_worker():
    from governance.celery import app

    app.loader.import_default_modules()
    assert {"governance.audit_checkpoint", "governance.approvals_expire_and_notify"} <= set(app.tasks)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("damage", ["none", "gap at a boundary", "gap inside", "altered", "relinked", "tail"])
def test_the_parallel_walk_finds_what_the_single_walk_finds(passport, developer, monkeypatch, damage):
    """Long chains are walked by forked processes in stretches; every kind of damage, wherever it falls, gives
    the same verdict as one process walking it all."""
    from governance.audit import services as audit_services

    with transaction.atomic():
        for n in range(40):
            audit_append(actor=developer, action=f"test.{n}", obj=passport, data={"n": n, "x": 1e-7 * n})
    events = list(AuditEvent.objects.order_by("seq"))
    total = len(events)
    boundary = -(-total // 3) + 1  # the first seq of the second of three stretches
    if damage == "gap at a boundary":
        _owner_sql(("DELETE FROM governance_auditevent WHERE seq IN (%s, %s)", [boundary - 1, boundary]))
    elif damage == "gap inside":
        _owner_sql(("DELETE FROM governance_auditevent WHERE seq = %s", [boundary + 3]))
    elif damage == "altered":
        _owner_sql(("UPDATE governance_auditevent SET object_repr = 'forged' WHERE seq = %s", [total - 2]))
    elif damage == "relinked":
        _owner_sql(("UPDATE governance_auditevent SET prev_hash = %s WHERE seq = %s", ["f" * 64, boundary]))
    elif damage == "tail":
        _cut_tail(events, total - 4)
        checkpoint_write(reason="test")
    monkeypatch.setattr(audit_services, "PARALLEL_FROM", 1)
    walked, real = [], audit_services._walk_parallel
    monkeypatch.setattr(audit_services, "_walk_parallel", lambda *a: walked.append(a) or real(*a))
    parallel = audit_verify(processes=3)
    assert walked and walked[0][0] == 3
    monkeypatch.setattr(audit_services, "PARALLEL_FROM", 10 ** 9)
    single = audit_verify()
    assert parallel == single
    assert parallel.ok is (damage in ("none", "tail")), parallel.reason
