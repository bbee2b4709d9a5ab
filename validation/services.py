"""Validation writes: validators issue report documents, and start (and cancel) validation runs; the Celery
task claims a run, reports its progress and stores its outcome through the run services below."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import liveness
from core.actors import SYSTEM, Actor
from core.actors import worker as worker_actor
from core.conditions import clean_conditions
from core.errors import Conflict, DomainError, validate_model
from governance.audit.services import audit_append
from registry.choices import VALIDATION_STATES, VersionState
from registry.models import Alias, ModelVersion
from registry.services import lock_version
from registry.storage import display_name, safe_suffix, staged_upload, store_staged
from validation import guards, hooks, signals, thresholds
from validation import report as report_render
from validation.choices import ACTIVE_RUN_STATES, RUN_TRANSITIONS, Rating, RunState, RunStep
from validation.gaps import run_gaps
from validation.models import ValidationReport, ValidationRun
from validation.runner import missing_column_error, missing_columns

RUN_TASK = "validation.run"  # the name validation.tasks.run_validation is registered under
logger = logging.getLogger(__name__)
MAX_REPORT_BYTES = 100 * 1024 * 1024
ALLOWED_SUFFIXES = (".pdf", ".html", ".htm", ".md", ".txt", ".docx", ".xlsx", ".zip")


def report_rating(rating: str, conditions) -> tuple[str, list[dict]]:
    """The rating (required) and its conditions: at least one for "fit with conditions", none otherwise."""
    if rating not in Rating.values:
        raise DomainError(_("Rate the model: %(choices)s.") % {"choices": ", ".join(Rating.values)},
                          code="required" if not rating else "invalid", field="rating")
    conditions = clean_conditions(conditions)
    if rating == Rating.FIT_WITH_CONDITIONS and not conditions:
        raise DomainError(_("A model fit for use with conditions needs at least one dated condition."),
                          code="required", field="conditions")
    if rating != Rating.FIT_WITH_CONDITIONS and conditions:
        raise DomainError(_("Conditions go with the rating “fit for use with conditions”."), code="invalid",
                          field="conditions")
    return rating, conditions


def report_issue_uploaded(*, actor: Actor, version, upload, conclusion: str, rating: str = "",
                          conditions=None) -> ValidationReport:
    """Freeze an uploaded report for a version in validation; its sha256 is what sign-offs bind to. The rating
    is required; a rating with conditions turns each into a dated finding (``signals.report_issued``)."""

    version = ModelVersion.objects.select_related("passport").get(pk=version.pk)  # the state now, not the caller's
    guards.issue_report(actor, version).enforce()
    rating, conditions = report_rating(rating, conditions)
    filename = display_name(getattr(upload, "name", ""), default="report")
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        raise DomainError(_("Report files must be one of: %(suffixes)s.") % {"suffixes": ", ".join(ALLOWED_SUFFIXES)},
                          code="invalid_file",
                          field="file")
    if not (conclusion or "").strip():
        raise DomainError(_("A report needs the validator's conclusion."), code="required", field="conclusion")
    with staged_upload(upload, max_bytes=MAX_REPORT_BYTES) as staged:
        stored, created = store_staged(
            staged, f"reports/{version.passport.key}/v{version.number}/{staged.sha256}{safe_suffix(filename)}")
    try:
        return _report_insert(actor=actor, version=version, stored=stored, staged=staged, filename=filename,
                              conclusion=conclusion.strip(), rating=rating, conditions=conditions)
    except Exception:
        if created:

            default_storage.delete(stored)
        raise


@transaction.atomic(durable=True)
def _report_insert(*, actor: Actor, version, stored, staged, filename, conclusion, rating,
                   conditions) -> ValidationReport:

    version = lock_version(version)
    if version.state not in VALIDATION_STATES:
        raise Conflict(_("v%(n)s left validation while the report was uploading.") % {"n": version.number},
                       code="invalid_state")
    report = ValidationReport(version=version, source=ValidationReport.Source.UPLOADED, filename=filename,
                              sha256=staged.sha256, size=staged.size, conclusion=conclusion, issued_by=actor,
                              rating=rating, conditions=conditions)
    report.file.name = stored
    validate_model(report)
    report.save()
    audit_append(actor=actor, action="report.issued", obj=report, passport_key=version.passport.key,
                 digests={"report_sha256": report.sha256, "artifact_sha256": version.sha256},
                 data={"version": version.number, "filename": filename, "rating": rating,
                       "conditions": conditions})
    signals.report_issued.send(sender=ValidationReport, report=report, actor=actor)
    return report


def report_language(language: str | None) -> str:
    """The language a report is written in: one the platform speaks, by default the reader's."""
    language = (language or translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    if language not in dict(settings.LANGUAGES):
        raise DomainError(_("A report is written in one of: %(languages)s.")
                          % {"languages": ", ".join(dict(settings.LANGUAGES))}, code="invalid", field="language")
    return language


def report_issue_check(*, actor: Actor, run, conclusion: str, exceptions: dict | None = None, rating: str = "",
                       conditions=None):
    """Everything ``report_issue_generated`` refuses, asked before any rendering: who may issue, the run's state,
    the conclusion, the rating and its conditions, and the exceptions. Returns the run (fresh), the stripped
    conclusion, the exceptions and the rating with its conditions."""
    run = ValidationRun.objects.select_related("version__passport", "reference", "validation", "champion").get(
        pk=run.pk)
    guards.issue_report(actor, run.version).enforce()
    if run.state != RunState.SUCCEEDED:
        raise Conflict(_("Only a succeeded run can be issued as a report; run #%(n)s is %(state)s.")
                       % {"n": run.pk, "state": run.get_state_display().lower()}, code="run_not_succeeded")
    conclusion = (conclusion or "").strip()
    if not conclusion:
        raise DomainError(_("A report needs the validator's conclusion."), code="required", field="conclusion")
    rating, conditions = report_rating(rating, conditions)
    return run, conclusion, _report_exceptions(run, exceptions), (rating, conditions)


def report_issue_generated(*, actor: Actor, run, conclusion: str, exceptions: dict | None = None,
                           rating: str = "", conditions=None, progress=None,
                           language: str | None = None) -> ValidationReport:
    """Freeze the report of a succeeded run: render the HTML document (its sha256 is the report digest sign-offs
    bind to) and the PDF (that digest in every footer) once, store both, and record the report in force.

    A run that skipped a test its tier policy requires is issued only with the validator's justified exception
    for each such test (``exceptions``: {test: justification}), frozen into the report; otherwise refused with
    ``required_test_skipped`` naming them. Rendering happens before anything is stored; a failure stores nothing.
    Files written before the database transaction are removed again if it fails. ``progress(step, percent)``,
    when given, hears how far the rendering is (the background job's page shows it). ``language``: what the report
    is written in (English or Russian; by default the validator's), recorded with it."""
    language = report_language(language)
    run, conclusion, exceptions, (rating, conditions) = report_issue_check(
        actor=actor, run=run, conclusion=conclusion, exceptions=exceptions, rating=rating, conditions=conditions)
    version = run.version
    issued_at = timezone.now().replace(microsecond=0)
    with translation.override(language):
        rendered = report_render.render(run=run, conclusion=conclusion, issued_by=actor, issued_at=issued_at,
                                        exceptions=exceptions, rating=rating, conditions=conditions,
                                        progress=progress)
    if rendered.refused:
        raise DomainError(_("The report asked for resources outside the platform; it was not issued."),
                          code="render_refused", details={"urls": list(rendered.refused)[:10]})
    if progress:
        progress(_("Storing the documents"), 90)
    folder = f"reports/{version.passport.key}/v{version.number}"
    written = []
    try:
        html_name = default_storage.save(f"{folder}/{rendered.sha256}-validation-report-run-{run.pk}.html",
                                         ContentFile(rendered.html))
        written.append(html_name)
        pdf_name = default_storage.save(f"{folder}/{rendered.sha256}-validation-report-run-{run.pk}.pdf",
                                        ContentFile(rendered.pdf))
        written.append(pdf_name)
        return _generated_insert(actor=actor, run=run, rendered=rendered, html_name=html_name, pdf_name=pdf_name,
                                 conclusion=conclusion, issued_at=issued_at, exceptions=exceptions, rating=rating,
                                 conditions=conditions, language=language)
    except Exception:
        for name in written:
            default_storage.delete(name)
        raise


MIN_JUSTIFICATION = 20


def _report_exceptions(run, given: dict | None) -> dict:
    """The exceptions a report of ``run`` carries: one justification for each required test the run skipped, and
    none for anything else."""
    given = {str(k): str(v or "").strip() for k, v in (given or {}).items()}
    skipped = {g["test"]: g["note"] for g in run_gaps(run)["skipped"]}
    stray = sorted(set(given) - set(skipped))
    if stray:
        raise DomainError(_("Exceptions are recorded only for required tests the run skipped; %(tests)s did not "
                            "skip.") % {"tests": ", ".join(stray)}, code="invalid", field="exceptions",
                          details={"tests": stray})
    missing = [test for test in skipped if len(given.get(test, "")) < MIN_JUSTIFICATION]
    if missing:
        reasons = "; ".join(f"{test} ({skipped[test]})" for test in missing)
        raise DomainError(
            _("Run #%(run)s skipped tests its tier policy requires: %(tests)s. Record a justified exception for "
              "each (at least %(min)s characters: why the test cannot run and why the model is fit without it), "
              "or start a run that runs them.") % {"run": run.pk, "tests": reasons, "min": MIN_JUSTIFICATION},
            code="required_test_skipped", field="exceptions", details={"skipped": missing})
    return {test: {"justification": given[test][:5000], "skipped_because": skipped[test]} for test in skipped}


@transaction.atomic(durable=True)
def _generated_insert(*, actor: Actor, run, rendered, html_name, pdf_name, conclusion, issued_at,
                      exceptions: dict, rating: str, conditions: list, language: str) -> ValidationReport:

    version = lock_version(run.version)
    if version.state not in VALIDATION_STATES:
        raise Conflict(_("v%(n)s left validation while the report was rendering.") % {"n": version.number},
                       code="invalid_state")
    report = ValidationReport(version=version, source=ValidationReport.Source.GENERATED, run=run,
                              filename=f"validation-report-{version.passport.key}-v{version.number}-run-{run.pk}.html",
                              sha256=rendered.sha256, size=len(rendered.html), conclusion=conclusion,
                              issued_by=actor, issued_at=issued_at, pdf_sha256=rendered.pdf_sha256,
                              exceptions=exceptions, rating=rating, conditions=conditions, language=language)
    report.file.name = html_name
    report.pdf_file.name = pdf_name
    validate_model(report)
    report.save()
    audit_append(actor=actor, action="report.issued", obj=report, passport_key=version.passport.key,
                 digests={"report_sha256": report.sha256, "pdf_sha256": report.pdf_sha256,
                          "artifact_sha256": version.sha256, "results_sha256": (run.digests or {}).get("results", "")},
                 data={"version": version.number, "run": run.pk, "source": report.source,
                       "exceptions": exceptions, "rating": rating, "conditions": conditions, "language": language})
    signals.report_issued.send(sender=ValidationReport, report=report, actor=actor)
    return report


# --- validation runs ---------------------------------------------------------------------------------------------

CHAMPION_ALIAS = "champion"


def _setting(name: str, default):
    return getattr(settings, name, default)


def run_start(*, actor: Actor, version, reference, validation, target: str, segment_column: str | None = None,
              champion=None) -> ValidationRun:
    """Queue a validation run of a version in validation, by a validator assigned to it.

    The datasets must belong to the version's passport and hold every feature of the version's feature schema
    (and of the champion's), the target and the segment column; a missing column is refused here, naming it,
    before anything is stored or enqueued. ``champion`` defaults to the version the passport's ``champion`` alias
    points at. The tier policy in force at submission fixes the depth and thresholds, which the run snapshots with
    the digests of what it will validate. The Celery task is enqueued after commit; audit: validation_run.queued.
    """

    version = ModelVersion.objects.select_related("passport").get(pk=version.pk)
    guards.start_run(actor, version).enforce()
    target, segment_column = (target or "").strip(), (segment_column or "").strip()
    if not target:
        raise DomainError(_("Name the target column."), code="required", field="target")
    _check_datasets(version, reference, validation)
    policy = _policy(version)
    plan = thresholds.resolve(tier=policy["tier"], depth=policy["validation_depth"],
                              overrides=policy.get("validation_thresholds"))
    champion = _champion(version, champion) if "champion" in plan["tests"] else None
    for dataset, label in ((reference, "reference"), (validation, "validation")):
        for owner in filter(None, (version, champion)):
            _check_columns(dataset, label, owner, target=target,
                           segment=segment_column if label == "validation" else "")
    return _run_insert(actor=actor, version=version, reference=reference, validation=validation, target=target,
                       segment_column=segment_column, champion=champion, plan=plan)


def _check_datasets(version, reference, validation) -> None:
    for dataset, field in ((reference, "reference"), (validation, "validation")):
        if dataset.passport_id != version.passport_id:
            raise DomainError(_("The %(field)s dataset belongs to another passport.") % {"field": field},
                              code="invalid", field=field)
    if reference.pk == validation.pk:
        raise DomainError(_("The reference and validation datasets must differ."), code="invalid", field="validation")


def _policy(version) -> dict:
    return {"tier": version.passport.risk_tier, **hooks.review_policy(version)}


def _champion(version, champion):
    if champion is None:
        alias = Alias.objects.filter(passport_id=version.passport_id, name=CHAMPION_ALIAS).first()
        return alias.version if alias is not None and alias.version_id != version.pk else None
    if champion.passport_id != version.passport_id:
        raise DomainError(_("The champion must be a version of the same passport."), code="invalid",
                          field="champion")
    if champion.pk == version.pk:
        raise DomainError(_("A version cannot be compared with itself."), code="invalid", field="champion")
    return champion


def _check_columns(dataset, label: str, version, *, target: str, segment: str) -> None:
    """Refuse a dataset whose recorded schema lacks a column the run needs, or holds text in a numeric feature."""
    columns = {column["name"]: column for column in dataset.schema}
    features = version.feature_schema.get("features", [])
    missing = missing_columns(columns, features=[f["name"] for f in features], target=target, segment=segment)
    what = _("the %(label)s dataset '%(name)s'") % {"label": label, "name": dataset.name}
    if missing:
        raise missing_column_error(what, missing, target=target, segment=segment, schema_of=f"v{version.number}")
    for feature in features:
        if feature["type"] in ("float", "int", "bool") and columns[feature["name"]].get("type") == "string":
            raise DomainError(_("Column '%(column)s' of %(dataset)s holds text, but the feature schema of v%(n)s "
                                "declares it %(type)s.") % {"column": feature["name"], "dataset": what,
                                                            "n": version.number, "type": feature["type"]},
                              code="invalid_column_type",
                              field=label, details={"column": feature["name"]})


def _seed(*digests: str) -> int:
    """The same inputs give the same seed, so re-running a validation reproduces it exactly."""
    return int(hashlib.sha256("".join(digests).encode()).hexdigest()[:8], 16) % 2**31


@transaction.atomic(durable=True)
def _run_insert(*, actor: Actor, version, reference, validation, target, segment_column, champion,
                plan) -> ValidationRun:

    version = lock_version(version)
    if version.state != VersionState.IN_VALIDATION:
        raise DomainError(_("v%(n)s left validation meanwhile.") % {"n": version.number}, code="invalid_state")
    same = ValidationRun.objects.filter(version=version, reference=reference, validation=validation, target=target,
                                        segment_column=segment_column, champion=champion,
                                        state__in=ACTIVE_RUN_STATES).first()
    if same is not None:
        raise Conflict(_("Run #%(n)s with the same inputs is already %(state)s.")
                       % {"n": same.pk, "state": same.get_state_display().lower()}, code="run_active")
    digests = {"artifact": version.sha256, "reference": reference.sha256, "validation": validation.sha256,
               **({"champion_artifact": champion.sha256} if champion else {})}
    run = ValidationRun(version=version, reference=reference, validation=validation, target=target,
                        segment_column=segment_column, champion=champion, tier=plan["tier"], depth=plan["depth"],
                        thresholds=plan, seed=_seed(*digests.values()), digests=digests, started_by=actor)
    validate_model(run)
    run.save()
    audit_append(actor=actor, action="validation_run.queued", obj=run, passport_key=version.passport.key,
                 digests={f"{k}_sha256": v for k, v in digests.items()},
                 data={"version": version.number, "target": target, "depth": run.depth, "tier": run.tier,
                       "segment_column": segment_column, "champion": champion.number if champion else None})
    transaction.on_commit(lambda: enqueue(run.pk), robust=True)
    return run


def enqueue(run_id: int) -> bool:
    """Send the run's task (to ``MG_VALIDATION_QUEUE`` when set, so heavy runs can have workers of their own).

    When the broker cannot be reached the run stays queued at the step "waiting for the broker", which the pages
    and the API show, and the recovery sweep sends it again once the broker answers. Looked up by name: the task
    module (``validation.tasks``) calls these services, so this one does not import it.
    """
    queue = _setting("MG_VALIDATION_QUEUE", None)
    try:
        current_app.tasks[RUN_TASK].apply_async(kwargs={"run_id": run_id}, **({"queue": queue} if queue else {}))
    except Exception:  # kombu's OperationalError, a refused socket, a DNS failure: all mean "not sent"
        logger.warning("validation run %s could not be sent to the broker; it waits for it", run_id, exc_info=True)
        ValidationRun.objects.filter(pk=run_id, state=RunState.QUEUED).update(step=RunStep.BROKER)
        return False
    ValidationRun.objects.filter(pk=run_id, state=RunState.QUEUED, step=RunStep.BROKER).update(step=RunStep.QUEUED)
    return True


def _move(run: ValidationRun, to: str) -> str:
    if to not in RUN_TRANSITIONS[run.state]:
        raise Conflict(_("Run #%(pk)s is %(state)s; it cannot become %(to)s.")
                       % {"pk": run.pk, "state": run.get_state_display().lower(), "to": RunState(to).label.lower()},
                       code="illegal_transition",
                       details={"from": run.state, "to": to})
    previous, run.state = run.state, to
    return previous


def _save(run: ValidationRun, fields: list[str]) -> None:
    validate_model(run)
    run.save(update_fields=fields)


def _lock_run(run_id: int) -> ValidationRun | None:
    # The run row alone (FOR NO KEY UPDATE): runs change no passport or version, and locking those in the same
    # statement would take them in whatever order the join runs, against the passport-then-version order.
    return ValidationRun.objects.select_for_update(no_key=True, of=("self",)).select_related(
        "version__passport").filter(pk=run_id).first()


def _audit_run(run: ValidationRun, action: str, actor: Actor, digests: dict | None = None, **data) -> None:
    audit_append(actor=actor, action=action, obj=run, passport_key=run.version.passport.key,
                 digests={"artifact_sha256": run.digests.get("artifact", ""), **(digests or {})},
                 data={"version": run.version.number, "attempt": run.attempts, **data})


def _log_attempt_end(run: ValidationRun, ended: str, now, reason: str = "") -> None:
    if run.attempt_log:
        last = {**run.attempt_log[-1], "ended": ended, "ended_at": now.isoformat(), "step": run.step}
        run.attempt_log = [*run.attempt_log[:-1], {**last, **({"reason": reason} if reason else {})}]


def _stale_before(now):
    return now - timedelta(seconds=float(_setting("MG_VALIDATION_STALE_SECONDS", 120)))


def run_lease_name(run_id: int) -> str:
    """The lease an attempt holds while it runs (``core.liveness``): free while the run is 'running' means its
    worker is gone."""
    return f"validation-run:{run_id}"


def _lost(run: ValidationRun, now, *, ended: bool = False) -> bool:
    """Release a run whose worker went silent or ended (running -> queued); fail it after too many lost attempts."""
    reason = (f"worker {run.worker or '?'} ended during step '{run.step}'" if ended
              else f"worker {run.worker or '?'} stopped answering during step '{run.step}'")
    _log_attempt_end(run, "lost", now, reason)
    if run.attempts >= int(_setting("MG_VALIDATION_MAX_ATTEMPTS", 3)):
        times = "once" if run.attempts == 1 else f"{run.attempts} times"
        _fail(run, f"The run was interrupted {times} and is not retried again; last: {reason}.", now,
              actor=SYSTEM)
        return False
    _move(run, RunState.QUEUED)
    run.claim, run.step, run.progress, run.enqueued_at = "", RunStep.QUEUED, 0, now
    _save(run, ["state", "claim", "step", "progress", "enqueued_at", "attempt_log"])
    _audit_run(run, "validation_run.worker_lost", SYSTEM, worker=run.worker, reason=reason)
    return True


def _fail(run: ValidationRun, reason: str, now, *, actor: Actor, environment: dict | None = None) -> None:
    _move(run, RunState.FAILED)
    run.failure_reason, run.finished_at, run.claim = reason[:5000], now, ""
    run.results, run.outcome = {}, ""  # a failed run keeps no partial results
    if environment:
        run.environment = environment
    _save(run, ["state", "failure_reason", "finished_at", "claim", "results", "outcome", "environment",
                            "attempt_log"])
    _audit_run(run, "validation_run.failed", actor, reason=run.failure_reason)


@transaction.atomic(durable=True)
def run_claim(*, run_id: int, token: str, worker: str, lease_held: bool = False) -> ValidationRun | None:
    """Take a queued run (or one whose worker went silent) for this attempt; None when there is nothing to do:
    the run is finished, cancelled, or held by a live attempt (a duplicate delivery). Audit: validation_run.started.

    ``lease_held``: the caller holds the run's lease (:func:`run_lease_name`), so a run still marked running
    belongs to a worker that has ended, however fresh its last heartbeat: it is taken over at once.
    """
    run = _lock_run(run_id)
    now = timezone.now()
    if run is None or run.state not in ACTIVE_RUN_STATES:
        return None
    if run.state == RunState.RUNNING:
        fresh = run.heartbeat_at and run.heartbeat_at >= _stale_before(now)
        if fresh and not lease_held:
            return None
        if not _lost(run, now, ended=bool(fresh)):
            return None
    _move(run, RunState.RUNNING)
    run.attempts += 1
    run.claim, run.worker, run.step, run.progress = token, worker[:200], RunStep.LOAD, 0
    run.started_at, run.heartbeat_at = run.started_at or now, now
    run.attempt_log = [*run.attempt_log, {"attempt": run.attempts, "worker": run.worker, "started_at": now.isoformat()}]
    _save(run, ["state", "attempts", "claim", "worker", "step", "progress", "started_at", "heartbeat_at",
                            "attempt_log"])
    _audit_run(run, "validation_run.started", worker_actor(run.worker))
    return run


def run_progress(*, run_id: int, token: str, step: str, progress: int) -> bool:
    """Record the step and percentage of a running attempt; False when the attempt no longer holds the run."""
    return ValidationRun.objects.filter(pk=run_id, claim=token, state=RunState.RUNNING).update(
        step=step, progress=max(0, min(100, int(progress))), heartbeat_at=timezone.now()) == 1


def run_heartbeat(*, run_id: int, token: str) -> bool:
    """A sign of life from a running attempt; False when the attempt no longer holds the run."""
    return ValidationRun.objects.filter(pk=run_id, claim=token, state=RunState.RUNNING).update(
        heartbeat_at=timezone.now()) == 1


@transaction.atomic(durable=True)
def run_succeed(*, run_id: int, token: str, results: dict, environment: dict,
                duration_seconds: float) -> ValidationRun | None:
    """Store the results of a finished attempt, all at once. None (nothing written) when the attempt no longer
    holds the run. Audit: validation_run.succeeded with the digests of the inputs and of the results."""
    run = _lock_run(run_id)
    if run is None or run.state != RunState.RUNNING or run.claim != token:
        return None
    now = timezone.now()
    _move(run, RunState.SUCCEEDED)
    results_sha256 = hashlib.sha256(json.dumps(results, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    _log_attempt_end(run, "succeeded", now)
    run.results, run.outcome, run.environment = results, results["summary"]["outcome"], environment
    run.digests = {**run.digests, "results": results_sha256}
    run.duration_seconds, run.finished_at = duration_seconds, now
    run.step, run.progress, run.claim, run.failure_reason = RunStep.DONE, 100, "", ""
    _save(run, ["state", "results", "outcome", "environment", "digests", "duration_seconds",
                            "finished_at", "step", "progress", "claim", "failure_reason", "attempt_log"])
    _audit_run(run, "validation_run.succeeded", worker_actor(run.worker), outcome=run.outcome,
               summary={k: v for k, v in results["summary"].items() if k != "outcome"},
               digests={f"{k}_sha256": v for k, v in run.digests.items()})
    signals.run_succeeded.send(sender=ValidationRun, run=run)  # e.g. OWASP ML01 / ML04 evidence, same commit
    return run


@transaction.atomic(durable=True)
def run_fail(*, run_id: int, token: str, reason: str, environment: dict | None = None) -> ValidationRun | None:
    """End a running attempt as failed with ``reason`` and no results; None when it no longer holds the run."""
    run = _lock_run(run_id)
    if run is None or run.state != RunState.RUNNING or run.claim != token:
        return None
    now = timezone.now()
    _log_attempt_end(run, "failed", now, reason)
    _fail(run, reason, now, actor=worker_actor(run.worker), environment=environment)
    return run


@transaction.atomic(durable=True)
def run_cancel(*, actor: Actor, run: ValidationRun) -> ValidationRun:
    """Cancel a queued or running run (the validator who may start runs on its version). A running attempt notices
    at its next step and stops without writing. Audit: validation_run.cancelled."""

    run = _lock_run(run.pk)
    guards.cancel_run(actor, run).enforce()
    now = timezone.now()
    _log_attempt_end(run, "cancelled", now)
    _move(run, RunState.CANCELLED)
    run.finished_at, run.claim = now, ""
    _save(run, ["state", "finished_at", "claim", "attempt_log"])
    _audit_run(run, "validation_run.cancelled", actor)
    return run


def runs_recover(*, now=None) -> dict:
    """Find runs whose worker died and put them back in the queue (failed after ``MG_VALIDATION_MAX_ATTEMPTS``):
    running runs whose lease is free (their worker process has ended, found at once) or with no sign of life for
    ``MG_VALIDATION_STALE_SECONDS`` (a worker that hangs). Queued runs waiting for the broker, or older than
    ``MG_VALIDATION_REQUEUE_SECONDS``, are enqueued again in case their message was lost. Duplicates are harmless:
    a delivery for a run that is finished or held by a live attempt does nothing."""
    now = now or timezone.now()
    running = ValidationRun.objects.filter(state=RunState.RUNNING)
    waiting = ValidationRun.objects.filter(state=RunState.QUEUED).filter(
        Q(step=RunStep.BROKER) | Q(enqueued_at__lt=now - timedelta(
            seconds=float(_setting("MG_VALIDATION_REQUEUE_SECONDS", 900)))))
    done = {"requeued": [], "failed": [], "reenqueued": []}
    for pk in running.values_list("pk", flat=True):
        outcome = _recover_one(pk, now)
        if outcome:
            done[outcome].append(pk)
    for pk in waiting.values_list("pk", flat=True):
        if _reenqueue(pk, now):
            done["reenqueued"].append(pk)
    return done


def _recover_one(pk: int, now) -> str | None:
    lease = liveness.hold(run_lease_name(pk))
    if lease is None:  # a living attempt holds the run (a hung one is found by its stale heartbeat, below)
        return _recover_locked(pk, now, ended=False) if _is_stale(pk, now) else None
    with lease:  # held while recovering, so no new attempt can claim the run in between
        return _recover_locked(pk, now, ended=True)


def _is_stale(pk: int, now) -> bool:
    return ValidationRun.objects.filter(pk=pk, state=RunState.RUNNING, heartbeat_at__lt=_stale_before(now)).exists()


@transaction.atomic(durable=True)
def _recover_locked(pk: int, now, *, ended: bool) -> str | None:
    run = _lock_run(pk)
    if run is None or run.state != RunState.RUNNING:
        return None
    fresh = run.heartbeat_at and run.heartbeat_at >= _stale_before(now)
    if fresh and not ended:
        return None
    if _lost(run, now, ended=bool(fresh)):
        transaction.on_commit(lambda: enqueue(pk), robust=True)
        return "requeued"
    return "failed"


@transaction.atomic(durable=True)
def _reenqueue(pk: int, now) -> bool:
    updated = ValidationRun.objects.filter(pk=pk, state=RunState.QUEUED).update(enqueued_at=now)
    if updated:
        transaction.on_commit(lambda: enqueue(pk), robust=True)
    return bool(updated)
