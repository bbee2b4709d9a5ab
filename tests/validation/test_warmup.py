"""The worker warm-up: one small in-memory validation, started in the process that will take the tasks."""

from __future__ import annotations

import pytest

from validation import tasks, warmup
from validation.models import ValidationRun

pytestmark = pytest.mark.django_db


def test_the_warm_up_runs_every_test_in_memory_and_stores_nothing(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    from validation.runner import execute
    from validation.synthetic import build_spec

    seconds = warmup.warm()
    assert seconds > 0 and not ValidationRun.objects.exists() and not any(tmp_path.iterdir())
    spec = build_spec(tmp_path, rows=1_500, reference_rows=1_500, features=13, trees=5, depth=3, train_rows=1_000)
    results = execute(spec).results  # the same run the warm-up makes: every test of the library ran
    assert set(results["order"]) >= {"performance", "stability", "explainability", "robustness", "champion"}


class _Pool:
    pass


@pytest.mark.parametrize(("module", "warms"), [("celery.concurrency.solo", True),
                                               ("celery.concurrency.thread", True),
                                               ("celery.concurrency.prefork", False)])
def test_a_worker_warms_the_process_that_takes_its_tasks(monkeypatch, settings, module, warms):
    settings.MG_WORKER_WARMUP = True
    started = []
    monkeypatch.setattr(warmup, "warm_in_background", lambda reason: started.append(reason))
    pool = type("TaskPool", (_Pool,), {"__module__": module})()
    tasks._warm_solo_worker(sender=type("Consumer", (), {"pool": pool})())
    assert started == (["worker"] if warms else [])
    tasks._warm_pool_process()  # a prefork child always warms itself
    assert started[-1] == "pool process"
    settings.MG_WORKER_WARMUP = False
    started.clear()
    tasks._warm_pool_process()
    assert started == []


def test_the_warm_up_starts_once_per_process(monkeypatch):
    ran = []
    monkeypatch.setattr(warmup, "warm", lambda: ran.append(1) or 0.1)
    monkeypatch.setattr(warmup, "_started", type(warmup._started)())
    first = warmup.warm_in_background("test")
    assert first is not None and warmup.warm_in_background("test") is None
    first.join(10)
    assert ran == [1]
