"""End to end in Debian's Chromium: the assigned validator starts a validation run from the version page, watches
its progress bar move while it runs, and reads its results on the run page.

The run executes for real (ONNX Runtime, the test library, TreeSHAP). The page starts it through the service, which
enqueues the Celery task on a queue of this test's own that no worker consumes; the test then plays the worker in a
thread, claiming the run and executing it with the task's own body (``validation.tasks.execute_claimed``), slowed by
``MG_VALIDATION_STEP_DELAY`` so that the page's polling sees it move.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

from governance.demo.onnx_models import build_demo_model
from registry import services as registry_services
from tests.factories import TeamFactory, UserFactory, make_passport
from tests.governance.workflow_helpers import PASSWORD, Cast, to_in_validation
from validation import services
from validation.choices import RunState
from validation.models import ValidationRun
from validation.run_display import fmt
from validation.tasks import execute_claimed

# Playwright's sync API runs an event loop in this thread; Django's ORM then refuses sync calls without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
TIER_2 = {"materiality": "medium", "decision_type": "human_in_the_loop", "processes_personal_data": True,
          "regulatory_exposure": "none"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def own_queue(settings):
    """The run's task goes to a queue no worker consumes (the test plays the worker); its message is removed."""
    from governance.celery import app, ensure_broker_folders

    ensure_broker_folders()
    queue = f"mg-browser-validation-{uuid.uuid4().hex[:12]}"
    settings.MG_VALIDATION_QUEUE = queue
    yield queue
    folder = (app.conf.broker_transport_options or {}).get("data_folder_out")
    if folder and Path(folder).is_dir():
        for message in Path(folder).glob(f"*{queue}*"):
            message.unlink(missing_ok=True)


def open_as(browser, live_server, username: str, path: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)  # generous: CI machines are shared and slow
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}{path}")
    assert "/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}")
    return page


class PlayedWorker(threading.Thread):
    """Claims the run and executes it with the Celery task's body, as a worker process would."""

    def __init__(self, run_id: int):
        super().__init__(name=f"played-worker-{run_id}", daemon=True)
        self.run_id, self.outcome, self.error = run_id, None, None

    def run(self) -> None:
        try:
            token = uuid.uuid4().hex
            claimed = services.run_claim(run_id=self.run_id, token=token, worker="browser-test@played")
            run = ValidationRun.objects.select_related("version", "reference", "validation", "champion").get(
                pk=claimed.pk)
            self.outcome = execute_claimed(run, token=token, worker="browser-test@played", heartbeat=False)
        except Exception as exc:  # re-raised by the test
            self.error = exc
        finally:
            connection.close()


def _progress(page) -> int | None:
    bar = page.locator("#run-progress [role=progressbar]")
    try:
        return int(bar.get_attribute("aria-valuenow", timeout=2_000))
    except Exception:  # swapped out between the query and the read: look again
        return None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_validator_starts_a_run_watches_it_progress_and_reads_the_results(live_server, browser, settings,
                                                                          own_queue, job_worker):
    settings.MG_VALIDATION_STEP_DELAY = 0.8
    model = build_demo_model("credit-scoring", n_rows=900)
    developer = UserFactory(username="dev", roles=["model_developer"])
    owner = UserFactory(username="owner", roles=["model_owner"])
    cast = Cast()
    passport = make_passport(actor=developer, key="browser-credit", team=TeamFactory(name="Browser team",
                                                                                    members=[developer]),
                             business_owner=owner, **TIER_2)
    version = registry_services.version_register(actor=developer, passport=passport,
                                                 feature_names=model.feature_names,
                                                 upload=ContentFile(model.onnx_bytes, name="credit.onnx"))
    version = to_in_validation(version, developer, cast)
    for frame, name, kind in ((model.reference, "Training sample", "reference"),
                              (model.holdout, "Holdout 2024", "validation")):
        registry_services.dataset_register(actor=developer, passport=passport, name=name, kind=kind, fmt="csv",
                                           upload=ContentFile(frame.to_csv(index=False).encode(), name="d.csv"))
    path = f"/passports/{passport.key}/versions/{version.number}/"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The assigned validator starts a run from the version page's "Validation runs" card.
    page = open_as(browser, live_server, "val", path)
    card = page.locator("#validation-runs")
    assert "No validation run yet." in card.inner_text()
    assert page.locator("#id_run-reference option:checked").inner_text().startswith("Training sample")
    assert page.locator("#id_run-validation option:checked").inner_text().startswith("Holdout 2024")
    targets = page.locator("#id_run-target option").all_inner_texts()
    assert targets[1] == model.target  # the column that is no feature comes first
    page.select_option("#id_run-target", model.target)
    page.screenshot(path=str(SCREENSHOTS / "validation-version-card.png"), full_page=True)
    page.click("#run-start-form button[type=submit]")
    page.wait_for_url("**/validation/runs/*/")
    run = ValidationRun.objects.get()
    assert run.state == RunState.QUEUED and run.target == model.target
    assert page.locator("#run-state").inner_text().strip() == "Queued"
    assert _progress(page) == 0

    # A worker takes it; the page polls and the bar moves, then the results appear.
    worker = PlayedWorker(run.pk)
    worker.start()
    seen, states, headers, shot = [], set(), set(), False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not page.locator("#run-summary").count():
        value = _progress(page)
        if value is not None and (not seen or seen[-1] != value):
            seen.append(value)
        states.add(page.locator("#run-progress").get_attribute("data-state") or "")
        headers.add(page.locator("#run-header-state").inner_text().strip())
        if not shot and value and 0 < value < 100:
            page.screenshot(path=str(SCREENSHOTS / "validation-run-progress.png"), full_page=False)
            shot = True
        time.sleep(0.15)
    worker.join(timeout=120)
    if worker.error:
        raise worker.error
    assert worker.outcome == "succeeded"
    assert page.locator("#run-summary").count(), f"the results never appeared; progress seen: {seen}"
    moving = [v for v in seen if 0 < v < 100]
    assert len(set(moving)) >= 2 and moving == sorted(moving), seen
    assert "running" in states and "Running" in headers  # the header's badge follows the polled fragment

    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    assert page.locator("#run-state").inner_text().strip() == "Succeeded"
    assert _progress(page) == 100
    steps = page.locator("#run-steps li")
    assert steps.count() == 2 + len(run.thresholds["tests"])
    assert set(steps.evaluate_all("els => els.map(e => e.dataset.status)")) == {"done"}
    rows = page.locator("#run-summary-table tbody tr")
    assert rows.count() == len(run.results["order"]) == len(run.thresholds["tests"]) >= 6
    performance = " ".join(page.locator("#run-summary-table tr[data-test=performance]").inner_text().split())
    headline = run.results["tests"]["performance"]
    assert f"AUC {fmt(headline['value'])} >= {fmt(headline['threshold'])}" in performance
    assert page.locator("#test-stability [data-table=psi] tbody tr").count() == len(model.feature_names) + 1
    assert "tree_interventional" in page.locator("#test-explainability").inner_text()
    assert page.locator("#run-seed").inner_text() == str(run.seed)
    assert run.digests["artifact"][:12] in page.locator("#run-reproducibility").inner_text()
    assert "onnxruntime" in page.locator("#run-packages").inner_text()
    assert not page.locator("#run-cancel").count()  # nothing left to cancel
    if page.locator("#run-summary .card-footer").count() == 0:  # charts drawn (validation.figures exists)
        page.locator("#test-performance .chart .main-svg").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "validation-run-results.png"), full_page=True)
    assert page.console_errors == []

    # Back on the version page, the card shows the run succeeded; the runs list has it too.
    page.goto(f"{live_server.url}{path}")
    row = " ".join(page.locator("#version-runs-table tr[data-run]").inner_text().split())
    assert f"#{run.pk}" in row and "Succeeded" in row and "100 %" in row
    page.locator("#validation-runs").screenshot(path=str(SCREENSHOTS / "validation-version-card-run.png"))
    page.goto(f"{live_server.url}/validation/runs/?passport={passport.key}")
    assert page.locator("#run-list-table tr[data-run]").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "validation-run-list.png"), full_page=True)

    # The validator issues the report and opens it: the frozen HTML with its interactive charts.
    page.goto(f"{live_server.url}/validation/runs/{run.pk}/")
    page.click("#run-issue-report")
    page.wait_for_url("**/issue/")
    page.fill("#id_conclusion", "Fit for purpose; calibration to be watched. <script>alert(1)</script>")
    conditions = page.locator("#report-issue-form [data-conditions]")
    assert not conditions.is_visible()  # shown only for "fit for use with conditions"
    page.check("#report-issue-form input[name=rating][value=fit_with_conditions]")
    conditions.wait_for(state="visible")
    page.fill("#id_cond-0-text", "Recalibrate on Q3 data")
    page.fill("#id_cond-0-due_date", "2031-09-30")
    page.screenshot(path=str(SCREENSHOTS / "validation-report-issue-form.png"), full_page=True)
    page.click("#report-issue-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")  # issued in the background by a worker; the job page follows it
    page.locator("#job-open").wait_for(timeout=120_000)
    report = run.reports.get()
    assert report.sha256[:12] in page.locator("#job-result").inner_text()
    assert report.rating == "fit_with_conditions"
    assert report.conditions == [{"text": "Recalibrate on Q3 data", "due_date": "2031-09-30"}]
    (condition,) = report.condition_findings.all()  # the condition is a dated finding now
    assert condition.due_date.isoformat() == "2031-09-30" and condition.title == "Recalibrate on Q3 data"
    page.screenshot(path=str(SCREENSHOTS / "validation-report-job.png"), full_page=True)
    page.click("#job-open")
    page.wait_for_url("**/validation/reports/*/")
    assert page.title().startswith("Validation report")
    assert "<script>alert(1)</script>" in page.locator("#conclusion").inner_text()  # shown as text
    page.locator("#test-performance .chart .main-svg").first.wait_for()
    assert page.locator("#summary-table tbody tr").count() == len(run.results["order"])
    page.screenshot(path=str(SCREENSHOTS / "validation-report.png"), full_page=False)
    assert page.console_errors == []
    pdf = page.request.get(f"{live_server.url}/validation/reports/{report.pk}/pdf/")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    (SCREENSHOTS / "validation-report.pdf").write_bytes(pdf.body())
