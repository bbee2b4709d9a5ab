"""Benchmark: verify an audit chain of N events (default 1,000,000) in a scratch database.

The scratch database is made and dropped the way the test runner does it (``test_<name>``, migrated), so the
configured database is never written. The events are a valid chain with realistic fields, written in bulk
(COPY on PostgreSQL); then ``audit_verify`` runs ``--repeat`` times in one process and with the default number of
processes, interleaved, and the medians are reported with the rates.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from governance.audit.models import AuditChainHead, AuditEvent
from governance.audit.services import GENESIS_HASH, _canonical, audit_verify, event_hash

ACTIONS = ("passport.created", "version.registered", "version.submitted", "signoff.recorded",
           "ledger.entry_booked", "validation_run.succeeded", "finding.opened", "checklist.item_answered")


def _events(count: int):
    """A valid chain: each event's hash over its fields and the previous hash."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        event = AuditEvent(
            seq=seq, occurred_at=start + timedelta(seconds=seq, microseconds=seq % 997),
            actor_id=None, actor_repr=f"user-{seq % 50}", action=ACTIONS[seq % len(ACTIONS)],
            object_type="registry.modelversion", object_id=str(seq % 5000), object_repr=f"credit-scoring v{seq % 40}",
            passport_key=f"model-{seq % 700}",
            digests={"artifact_sha256": hashlib.sha256(str(seq % 5000).encode()).hexdigest()},
            data={"version": seq % 40, "reason": "Quarterly re-validation — утверждено", "amount": "1250.00"},
            request_id=f"{seq:032x}", prev_hash=prev,
        )
        event.hash = prev = event_hash(event)
        yield event


class Command(BaseCommand):
    help = "Benchmark audit-chain verification on N events in a scratch database (dropped afterwards)."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=1_000_000)
        parser.add_argument("--repeat", type=int, default=3)

    def handle(self, *args, **options):
        count, repeat = options["events"], options["repeat"]
        creation = connection.creation
        original = connection.settings_dict["NAME"]
        name = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
        try:
            began = time.monotonic()
            self._load(count)
            self.stdout.write(f"{connection.vendor}: {count:,} events written in {time.monotonic() - began:.1f} s")
            default = min(os.cpu_count() or 1, int(settings.MG_AUDIT_VERIFY_PROCESSES))
            modes = {"one process": 1, f"{default} processes (the default here)": default}
            timings = {label: [] for label in modes}
            for _ in range(repeat):  # interleaved, so both meet the same machine
                for label, processes in modes.items():
                    began = time.monotonic()
                    result = audit_verify(processes=processes)
                    timings[label].append(time.monotonic() - began)
                    if not result.ok or result.events_checked != count:
                        raise SystemExit(f"verification failed: {result.as_dict()}")
            for label, values in timings.items():
                median = statistics.median(values)
                self.stdout.write(
                    f"audit_verify, {label}: {count:,} events, median {median:.2f} s of {repeat} "
                    f"({', '.join(f'{t:.2f}' for t in values)}), {count / median:,.0f} events/s")
        finally:
            creation.destroy_test_db(original, verbosity=0, keepdb=False)
            self.stdout.write(f"scratch database {name} dropped")

    def _load(self, count: int) -> None:
        last = None
        with transaction.atomic():
            if connection.vendor == "postgresql":
                columns = ("seq", "occurred_at", "actor_repr", "action", "object_type", "object_id", "object_repr",
                           "passport_key", "digests", "data", "request_id", "prev_hash", "hash")
                with connection.cursor() as cursor, cursor.connection.cursor().copy(
                        f"COPY {AuditEvent._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for event in _events(count):
                        copy.write_row((event.seq, event.occurred_at, event.actor_repr, event.action,
                                        event.object_type, event.object_id, event.object_repr, event.passport_key,
                                        _canonical(event.digests), _canonical(event.data), event.request_id,
                                        event.prev_hash, event.hash))
                        last = event
            else:
                batch = []
                for event in _events(count):
                    batch.append(event)
                    last = event
                    if len(batch) == 5000:
                        AuditEvent.objects.bulk_create(batch)
                        batch = []
                AuditEvent.objects.bulk_create(batch)
            AuditChainHead.objects.update_or_create(pk=1, defaults={"last_seq": last.seq, "last_hash": last.hash})
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {AuditEvent._meta.db_table}")
