"""Two reports of one prediction-log file with different digests at the same instant, on SQLite and on PostgreSQL:
one is stored, the other refused as ``digest_changed`` with its alert; never two rows, never both accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict
from serving import alerts, services
from serving.models import Alert, PredictionLogDigest
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_two_reports_of_one_file_racing_store_one_and_refuse_the_other(serving):
    deployment = services.deployment_create(actor=serving.engineer, passport=serving.passport, version=1,
                                            hosts=[serving.host_a.pk, serving.host_b.pk])
    now = timezone.now()

    def report(sha: str):
        return lambda: alerts.log_digests_receive(host=serving.host_a, digests=[
            {"deployment": deployment.pk, "name": "20261203T100000-000000-7.plog.zst", "sha256": sha * 64,
             "records": 10, "first_at": now - timedelta(minutes=5), "last_at": now}])

    for _attempt in range(3):  # a few rounds: the threads meet at different points of get_or_create
        PredictionLogDigest.objects.all().delete()
        results = run_together(report("a"), report("b"))
        assert sorted(r[0] for r in results) == ["error", "ok"], results
        stored = next(r[1] for r in results if r[0] == "ok")
        refused = next(r[1] for r in results if r[0] == "error")
        assert stored == {"stored": 1, "duplicates": 0}
        assert isinstance(refused, Conflict) and refused.code == "digest_changed"
        row = PredictionLogDigest.objects.get()
        assert row.sha256 == refused.details["stored"] != refused.details["reported"]
    assert Alert.objects.filter(kind="log_altered", deployment=deployment).count() == 1  # seen again, counted
