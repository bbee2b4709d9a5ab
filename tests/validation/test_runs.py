"""Validation runs against a real database: the start service and its refusals, the Celery task (eager), the
claim / heartbeat / recovery protocol that makes a retry safe, cancellation and the selectors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404
from django.utils import timezone

from core import liveness
from core.errors import Conflict, DomainError, PermissionDenied
from governance.audit.models import AuditEvent
from governance.demo.onnx_models import build_demo_model
from governance.workflow.services import transitions as workflow
from registry.models import Dataset
from tests.factories import make_passport
from tests.governance.workflow_helpers import Cast
from tests.validation.conftest import _dataset, _setup, _version
from validation import selectors, services
from validation.choices import RunState, RunStep
from validation.models import ValidationRun
from validation.tasks import execute_claimed, run_validation


@pytest.fixture
def cast(db):
    return Cast()


def _start(s, **extra) -> ValidationRun:
    return services.run_start(actor=s.validator, version=s.version, reference=s.reference, validation=s.validation,
                              target=s.target, **extra)


def _actions(run) -> list[str]:
    return list(AuditEvent.objects.filter(object_type="validation.validationrun", object_id=str(run.pk))
                .order_by("seq").values_list("action", flat=True))


def test_only_the_assigned_validator_starts_runs_on_versions_in_validation(low, cast, developer, passport, credit):
    with pytest.raises(PermissionDenied):
        services.run_start(actor=cast.validator2, version=low.version, reference=low.reference,
                           validation=low.validation, target=low.target)
    with pytest.raises(DomainError, match="must differ"):
        services.run_start(actor=low.validator, version=low.version, reference=low.validation,
                           validation=low.validation, target=low.target)
    elsewhere = _dataset(passport, developer, credit.holdout, "other passport")
    with pytest.raises(DomainError, match="belongs to another passport"):
        services.run_start(actor=low.validator, version=low.version, reference=low.reference, validation=elsewhere,
                           target=low.target)
    workflow.version_reject(actor=cast.risk, version=low.version, reason="Out of scope.")
    with pytest.raises(DomainError, match="versions in validation; v1 is rejected"):
        _start(low)
    assert not ValidationRun.objects.exists()


def test_a_dataset_missing_a_feature_is_refused_naming_the_column_and_nothing_is_stored(
        low, developer, credit, django_capture_on_commit_callbacks):
    passport = low.version.passport
    no_income = _dataset(passport, developer, credit.holdout.drop(columns=["income"]), "holdout without income")
    events = AuditEvent.objects.count()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(DomainError) as refused:
        services.run_start(actor=low.validator, version=low.version, reference=low.reference,
                           validation=no_income, target=low.target)
    assert "validation dataset 'holdout without income' has no column 'income'" in str(refused.value)
    assert refused.value.code == "missing_column" and refused.value.details == {"columns": ["income"]}
    assert not ValidationRun.objects.exists() and AuditEvent.objects.count() == events and callbacks == []
    with pytest.raises(DomainError, match="no column 'outcome' \\(the target\\)"):
        services.run_start(actor=low.validator, version=low.version, reference=low.reference,
                           validation=low.validation, target="outcome")
    with pytest.raises(DomainError, match="'branch' \\(the segment column\\)"):
        _start(low, segment_column="branch")


def test_text_in_a_numeric_feature_is_refused(low, developer, credit):
    frame = credit.holdout.assign(age=["unknown"] * len(credit.holdout))
    texty = _dataset(low.version.passport, developer, frame, "texty")
    with pytest.raises(DomainError, match="Column 'age' of the validation dataset 'texty' holds text"):
        services.run_start(actor=low.validator, version=low.version, reference=low.reference, validation=texty,
                           target=low.target)


def test_a_run_goes_through_the_task_and_records_what_reproduces_it(
        low, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = _start(low)
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert (run.state, run.step, run.progress, run.attempts) == (RunState.SUCCEEDED, RunStep.DONE, 100, 1)
    assert (run.tier, run.depth, run.thresholds["tests"]) == (3, "basic", ["performance", "quality", "explainability"])
    assert set(run.results["tests"]) == {"performance", "quality", "explainability"}
    assert run.outcome in ("passed", "failed")
    assert run.results["tests"]["performance"]["metrics"]["auc"]["value"] > 0.7
    assert run.digests["artifact"] == low.version.sha256 and run.digests["validation"] == low.validation.sha256
    assert len(run.digests["results"]) == 64 and run.duration_seconds > 0 and run.finished_at
    assert run.environment["worker"] and run.environment["pid"]
    assert {"onnxruntime", "numpy", "pandas", "scikit-learn", "evidently", "shap"} <= set(
        run.environment["packages"])
    assert run.environment["seeds"]["base"] == run.seed
    assert run.environment["onnxruntime_provider"] == "CPUExecutionProvider"
    assert run.attempt_log[0]["ended"] == "succeeded"
    assert _actions(run) == ["validation_run.queued", "validation_run.started", "validation_run.succeeded"]
    # the same inputs give the same seed: a second run reproduces the first
    with django_capture_on_commit_callbacks(execute=True):
        again = _start(low)
    again.refresh_from_db()
    assert again.seed == run.seed and again.digests["results"] == run.digests["results"]


def test_a_full_depth_run_runs_every_test_with_the_champion_side_by_side(
        developer, owner, team, cast, credit, eager, django_capture_on_commit_callbacks):
    passport = make_passport(actor=developer, key="credit-full", team=team, business_owner=owner)  # tier 1
    champion = _version(passport, developer, credit)
    challenger = build_demo_model("credit-scoring", n_rows=1200, variant="challenger")
    s = _setup(passport, developer, cast, challenger)
    with django_capture_on_commit_callbacks(execute=True):
        run = _start(s, champion=champion, segment_column="loan_term_months")
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.failure_reason
    assert run.depth == "full" and run.champion == champion
    tests = run.results["tests"]
    order = ["performance", "quality", "calibration", "stability", "drift", "generalisation", "explainability",
             "robustness", "segments", "champion"]
    assert set(tests) == set(order) and run.results["order"] == order  # JSONB keeps no key order; lists keep it
    assert tests["champion"]["champion"]["sha256"] == champion.sha256
    assert tests["stability"]["features"]["credit_utilization"]["value"] > 0
    assert tests["drift"]["columns"]["income"]["method"]
    assert run.environment["digests"]["champion_artifact"] == champion.sha256


def test_a_failure_in_the_worker_stores_the_reason_and_no_partial_results(
        low, developer, credit, eager, django_capture_on_commit_callbacks):
    # The recorded schema claims the column; the stored file lacks it: only the worker can find out.
    lying = _dataset(low.version.passport, developer, credit.holdout.drop(columns=["income"]), "lying")
    Dataset.objects.filter(pk=lying.pk).update(schema=low.validation.schema)
    lying.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(actor=low.validator, version=low.version, reference=low.reference,
                                 validation=lying, target=low.target)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and "has no column 'income'" in run.failure_reason
    assert run.failure_reason.startswith("Step 'load'")
    assert run.results == {} and run.outcome == "" and "results" not in run.digests
    assert run.attempt_log[-1]["ended"] == "failed" and run.environment["packages"]
    assert _actions(run)[-1] == "validation_run.failed"


def test_a_file_changed_after_registration_fails_the_run(low, eager, django_capture_on_commit_callbacks):
    name = low.reference.file.name
    default_storage.delete(name)
    default_storage.save(name, ContentFile(b"age,income\n1,2\n"))
    with django_capture_on_commit_callbacks(execute=True):
        run = _start(low)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and "do not match its registered sha256" in run.failure_reason


def test_an_unexpected_error_fails_the_run_with_the_step(low, eager, django_capture_on_commit_callbacks,
                                                         monkeypatch):
    from validation import steps

    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setitem(steps.STEPS, "quality", broken)
    with django_capture_on_commit_callbacks(execute=True):
        run = _start(low)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and run.failure_reason == "Step 'quality' raised RuntimeError: boom"
    assert run.results == {}


def _queued(s, django_capture_on_commit_callbacks) -> ValidationRun:
    with django_capture_on_commit_callbacks():  # not delivered: the test plays the worker
        return _start(s)


def _go_stale(run):
    ValidationRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def test_a_duplicate_delivery_does_nothing_and_a_silent_attempt_is_taken_over(
        low, django_capture_on_commit_callbacks):
    run = _queued(low, django_capture_on_commit_callbacks)
    with pytest.raises(Conflict):  # the same inputs are already queued
        _start(low)
    first = services.run_claim(run_id=run.pk, token="a" * 32, worker="w1@host")
    assert first.state == RunState.RUNNING and first.attempts == 1
    assert services.run_claim(run_id=run.pk, token="b" * 32, worker="w2@host") is None  # w1 is alive
    _go_stale(run)
    second = services.run_claim(run_id=run.pk, token="b" * 32, worker="w2@host")
    assert second.attempts == 2 and second.worker == "w2@host"
    assert second.attempt_log[0]["ended"] == "lost" and "w1@host" in second.attempt_log[0]["reason"]
    # the first attempt, if it comes back, can neither report progress nor write results
    assert services.run_progress(run_id=run.pk, token="a" * 32, step="predict", progress=20) is False
    assert services.run_succeed(run_id=run.pk, token="a" * 32, results={"summary": {"outcome": "passed"}},
                                environment={}, duration_seconds=1.0) is None
    assert execute_claimed(second, token="b" * 32, worker="w2@host", heartbeat=False) == "succeeded"
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.attempts == 2 and run.worker == "w2@host"
    assert "validation_run.worker_lost" in _actions(run)
    assert services.run_claim(run_id=run.pk, token="c" * 32, worker="w3@host") is None  # finished: no-op


def test_recovery_requeues_a_lost_run_then_fails_it_after_the_last_attempt(
        low, settings, django_capture_on_commit_callbacks):
    settings.MG_VALIDATION_MAX_ATTEMPTS = 2
    run = _queued(low, django_capture_on_commit_callbacks)
    with liveness.hold(services.run_lease_name(run.pk)):  # w1 is alive: it holds the run's lease
        services.run_claim(run_id=run.pk, token="a" * 32, worker="w1@host", lease_held=True)
        assert services.runs_recover() == {"requeued": [], "failed": [], "reenqueued": []}
        _go_stale(run)  # alive but silent: a hung worker is found by its heartbeat
        with django_capture_on_commit_callbacks() as callbacks:
            assert services.runs_recover()["requeued"] == [run.pk]
    assert len(callbacks) == 1  # enqueued again after commit
    assert "stopped answering" in ValidationRun.objects.get(pk=run.pk).attempt_log[0]["reason"]
    run.refresh_from_db()
    assert (run.state, run.step, run.claim) == (RunState.QUEUED, RunStep.QUEUED, "")
    services.run_claim(run_id=run.pk, token="b" * 32, worker="w2@host")
    _go_stale(run)
    assert services.runs_recover()["failed"] == [run.pk]
    run.refresh_from_db()
    assert run.state == RunState.FAILED and "interrupted 2 times" in run.failure_reason and run.results == {}
    assert [entry["ended"] for entry in run.attempt_log] == ["lost", "lost"]


def test_queued_runs_whose_message_was_lost_are_enqueued_again(low, django_capture_on_commit_callbacks):
    run = _queued(low, django_capture_on_commit_callbacks)
    ValidationRun.objects.filter(pk=run.pk).update(enqueued_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.runs_recover()["reenqueued"] == [run.pk]
    assert len(callbacks) == 1


def test_cancelled_runs_are_not_run_and_a_running_attempt_stops_without_writing(
        low, cast, eager, django_capture_on_commit_callbacks):
    run = _queued(low, django_capture_on_commit_callbacks)
    with pytest.raises(PermissionDenied):
        services.run_cancel(actor=cast.validator2, run=run)
    services.run_cancel(actor=low.validator, run=run)
    assert run_validation.apply(kwargs={"run_id": run.pk}).get() == "skipped"
    with pytest.raises(Conflict):
        services.run_cancel(actor=low.validator, run=run)
    second = _queued(low, django_capture_on_commit_callbacks)
    claimed = services.run_claim(run_id=second.pk, token="a" * 32, worker="w1@host")
    services.run_cancel(actor=low.validator, run=second)
    assert execute_claimed(claimed, token="a" * 32, worker="w1@host", heartbeat=False) == "aborted"
    second.refresh_from_db()
    assert second.state == RunState.CANCELLED and second.results == {}
    assert _actions(second)[-1] == "validation_run.cancelled"


def test_runs_are_visible_to_those_who_see_the_passport(low, outsider, auditor, developer,
                                                        django_capture_on_commit_callbacks):
    run = _queued(low, django_capture_on_commit_callbacks)
    assert list(selectors.run_list(user=auditor)) == [run]
    assert list(selectors.run_list(user=developer, version=low.version)) == [run]
    assert selectors.run_get(user=low.validator, pk=run.pk) == run
    assert not selectors.run_list(user=outsider).exists()
    with pytest.raises(Http404):
        selectors.run_get(user=outsider, pk=run.pk)
    assert list(selectors.run_list(user=auditor, filters={"state": "succeeded"})) == []
