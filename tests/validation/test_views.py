"""The validation-run UI with Django's test client: the version page's card and start form, the run page with its
polled progress fragment and results, cancelling, the runs list; visibility, refusals and escaping."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import NoReverseMatch, reverse

from governance.audit.models import AuditEvent
from registry import services as registry_services
from registry.models import Dataset
from tests.factories import make_passport
from tests.governance.workflow_helpers import Cast, to_in_validation
from tests.validation.conftest import TIER_3
from validation import services
from validation.choices import RunState
from validation.models import ValidationRun

HOSTILE = '<script>alert(1)</script><img src="http://example.com/x">'




def _dataset(passport, actor, frame, name, kind="validation") -> Dataset:
    upload = ContentFile(frame.to_csv(index=False).encode(), name="data.csv")
    return registry_services.dataset_register(actor=actor, passport=passport, upload=upload, name=name, kind=kind,
                                              fmt="csv")


@pytest.fixture
def w(db, developer, owner, team, credit):
    """A tier-3 passport with a hostile name, a version in validation, an assigned validator ("val") and datasets,
    one of them with a hostile name."""
    cast = Cast()
    passport = make_passport(actor=developer, key="credit-ui", team=team, business_owner=owner, name=HOSTILE,
                             **TIER_3)
    version = registry_services.version_register(actor=developer, passport=passport,
                                                 feature_names=credit.feature_names,
                                                 upload=ContentFile(credit.onnx_bytes, name="credit.onnx"))
    version = to_in_validation(version, developer, cast)
    return SimpleNamespace(
        cast=cast, passport=passport, version=version, validator=cast.validator, target=credit.target,
        reference=_dataset(passport, developer, credit.reference, "Training sample", "reference"),
        validation=_dataset(passport, developer, credit.holdout, HOSTILE),
        version_url=reverse("registry:version_detail", args=[passport.key, version.number]),
        start_url=reverse("validation:run_start", args=[passport.key, version.number]))


def _client(client, user):
    client.force_login(user)
    return client


def _post(w, **extra) -> dict:
    return {"run-reference": w.reference.pk, "run-validation": w.validation.pk, "run-target": w.target,
            "run-segment_column": "", "run-champion": "", **extra}


def _queued(w) -> ValidationRun:
    return services.run_start(actor=w.validator, version=w.version, reference=w.reference, validation=w.validation,
                              target=w.target)


def _assert_escaped(html: str) -> None:
    assert "<script>alert(1)</script>" not in html and '<img src="http://example.com/x">' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- version page and start


def test_the_version_page_offers_the_start_form_to_the_assigned_validator_only(w, client, developer, credit):
    html = _client(client, w.validator).get(w.version_url).content.decode()
    assert 'id="validation-runs"' in html and 'id="run-start-form"' in html
    assert "No validation run yet." in html
    # a column of the datasets' schemas, chosen already: the only numeric column that is not a feature
    assert f'<option value="{w.target}" selected>{w.target}</option>' in html
    assert html.index(f'value="{w.target}"') < html.index('value="income"')  # the non-feature column first
    _assert_escaped(html)
    # the developer sees no form, and no card while there is no run
    client.force_login(developer)
    assert 'id="validation-runs"' not in client.get(w.version_url).content.decode()
    run = _queued(w)
    html = client.get(w.version_url).content.decode()
    assert 'id="validation-runs"' in html and 'id="run-start-form"' not in html
    assert f'href="/validation/runs/{run.pk}/"' in html
    # a queued run makes the runs table poll; the fragment is the same table
    assert 'hx-trigger="every 2s"' in html
    fragment = client.get(reverse("validation:version_runs", args=[w.passport.key, 1])).content.decode()
    assert fragment.strip().startswith('<div id="version-runs"') and "Queued" in fragment


def test_the_target_is_not_guessed_when_two_columns_fit(w, client, developer, credit):
    frame = credit.reference.assign(other_outcome=(credit.reference[credit.target] * 0).astype(int))
    _dataset(w.passport, developer, frame, "Two outcomes", "reference")
    html = _client(client, w.validator).get(w.version_url).content.decode()
    assert f'<option value="{w.target}">{w.target}</option>' in html and "selected>other_outcome" not in html
    # the validation run card comes before the report upload, whose form stays folded
    assert html.index('id="run-start-form"') < html.index('id="report-upload"')
    assert '<details id="report-upload">' in html or '<details  id="report-upload">' in html


def test_without_datasets_the_card_says_what_a_run_needs(w, client, developer, team, owner):
    from tests.governance.workflow_helpers import register

    passport = make_passport(actor=developer, key="no-data", team=team, business_owner=owner, **TIER_3)
    version = to_in_validation(register(passport, developer), developer, w.cast)
    html = _client(client, w.validator).get(
        reverse("registry:version_detail", args=[passport.key, version.number])).content.decode()
    assert 'id="run-no-datasets"' in html and 'id="run-start-form"' not in html
    assert f'href="/passports/{passport.key}/datasets/upload/"' in html


def test_starting_a_run_from_the_page(w, client):
    response = _client(client, w.validator).post(w.start_url, _post(w))
    run = ValidationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/validation/runs/{run.pk}/"
    assert (run.reference, run.validation, run.target, run.started_by) == (w.reference, w.validation, w.target,
                                                                          w.validator)
    assert run.state == RunState.QUEUED


def test_a_refused_start_shows_the_reason_and_stores_nothing(w, client, developer, credit, outsider):
    no_income = _dataset(w.passport, developer, credit.holdout.drop(columns=["income"]), "no income")
    _client(client, w.validator)
    events = AuditEvent.objects.count()
    response = client.post(w.start_url, _post(w, **{"run-validation": no_income.pk}))
    assert response.status_code == 400
    html = response.content.decode()
    assert "validation dataset &#x27;no income&#x27; has no column &#x27;income&#x27;" in html
    assert 'id="run-start-form"' in html
    response = client.post(w.start_url, _post(w, **{"run-target": "nonsense"}))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = client.post(w.start_url, _post(w, **{"run-reference": w.validation.pk}))
    assert response.status_code == 400 and "must differ" in response.content.decode()
    # a validator who is not assigned is refused by the service; an outsider does not see the version
    client.force_login(w.cast.validator2)
    response = client.post(w.start_url, _post(w))
    assert response.status_code == 403 and "Only a validator assigned" in response.content.decode()
    client.force_login(outsider)
    assert client.post(w.start_url, _post(w)).status_code == 404
    assert not ValidationRun.objects.exists() and AuditEvent.objects.count() == events


# --------------------------------------------------------------------------- run page


def test_the_run_page_polls_while_active_and_stops_when_it_ends(w, client, auditor, outsider):
    run = _queued(w)
    url, progress = f"/validation/runs/{run.pk}/", f"/validation/runs/{run.pk}/progress/"
    assert _client(client, outsider).get(url).status_code == 404
    assert client.get(progress).status_code == 404
    html = _client(client, auditor).get(url).content.decode()
    assert f'hx-get="{progress}" hx-trigger="every 1s"' in html
    assert 'id="run-cancel"' not in html  # the auditor may not cancel
    _assert_escaped(html)
    services.run_claim(run_id=run.pk, token="a" * 32, worker="w1@host")
    services.run_progress(run_id=run.pk, token="a" * 32, step="quality", progress=57)
    fragment = client.get(progress, headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert "HX-Refresh" not in fragment and 'aria-valuenow="57"' in body and "Data quality" in body
    assert 'hx-swap-oob="true"' in body and "Running" in body and "w1@host" in body
    services.run_cancel(actor=w.validator, run=run)
    fragment = client.get(progress, headers={"HX-Request": "true"})
    assert fragment["HX-Refresh"] == "true"  # the page reloads once, with the outcome
    html = client.get(url).content.decode()
    assert "hx-trigger" not in html and "The run was cancelled" in html


def test_the_assigned_validator_cancels_from_the_run_page(w, client):
    run = _queued(w)
    url = f"/validation/runs/{run.pk}/"
    client.force_login(w.cast.validator2)
    assert 'id="run-cancel"' not in client.get(url).content.decode()
    response = client.post(f"{url}cancel/")
    assert response.status_code == 403 and "Only a validator assigned" in response.content.decode()
    run.refresh_from_db()
    assert run.state == RunState.QUEUED
    client.force_login(w.validator)
    assert 'id="run-cancel"' in client.get(url).content.decode()
    response = client.post(f"{url}cancel/", follow=True)
    assert f"Validation run #{run.pk} cancelled." in response.content.decode()
    run.refresh_from_db()
    assert run.state == RunState.CANCELLED
    assert client.get(f"{url}cancel/").status_code == 405


def test_a_failed_run_shows_its_reason_plainly(w, developer, credit, client, eager,
                                               django_capture_on_commit_callbacks):
    lying = _dataset(w.passport, developer, credit.holdout.drop(columns=["income"]), "lying")
    Dataset.objects.filter(pk=lying.pk).update(schema=w.validation.schema)  # only the worker finds out
    lying.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(actor=w.validator, version=w.version, reference=w.reference, validation=lying,
                                 target=w.target)
    html = _client(client, w.validator).get(f"/validation/runs/{run.pk}/").content.decode()
    assert 'id="run-failure"' in html and "The run failed and stored no results." in html
    assert "has no column &#x27;income&#x27;" in html and 'id="run-summary"' not in html


def test_a_succeeded_run_shows_every_test_and_what_reproduces_it(w, client, auditor, eager,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = _queued(w)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    html = _client(client, auditor).get(f"/validation/runs/{run.pk}/").content.decode()
    assert 'id="run-summary-table"' in html
    for name in run.results["order"]:
        assert f'<tr data-test="{name}">' in html and f'id="test-{name}"' in html
    assert 'data-table="confusion"' in html and 'data-table="quality-validation"' in html
    assert f'<dd class="font-monospace" id="run-seed">{run.seed}</dd>' in html
    for digest in (run.digests["artifact"], run.digests["reference"], run.digests["validation"]):
        assert f'data-copy-text="{digest}"' in html
    assert run.environment["packages"]["onnxruntime"] in html
    assert 'id="run-issue-report"' not in html  # an auditor does not issue reports
    _assert_escaped(html)
    # every tier explains the model; how, in the reader's words (the explainer's own note is English)
    assert "explainability" in run.results["order"]
    assert "Exact interventional TreeSHAP on the trees read from the ONNX graph" in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    ru = client.get(f"/validation/runs/{run.pk}/").content.decode()
    assert "Точный интервенционный TreeSHAP по деревьям, прочитанным из графа ONNX" in ru
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    # the assigned validator gets the link to issue the report, once the report pages exist
    html = _client(client, w.validator).get(f"/validation/runs/{run.pk}/").content.decode()
    try:
        issue = reverse("validation:report_issue", args=[run.pk])
    except NoReverseMatch:
        issue = None
    assert ('id="run-issue-report"' in html) is (issue is not None)
    if issue:
        assert f'href="{issue}"' in html


# --------------------------------------------------------------------------- runs list


def test_the_runs_list_filters_and_follows_visibility(w, client, auditor, outsider):
    run = _queued(w)
    services.run_cancel(actor=w.validator, run=run)
    queued = services.run_start(actor=w.validator, version=w.version, reference=w.reference,
                                validation=w.validation, target=w.target)
    html = _client(client, auditor).get("/validation/runs/").content.decode()
    assert html.count("<tr data-run=") == 2
    _assert_escaped(html)
    html = client.get("/validation/runs/", {"state": "queued"}).content.decode()
    assert html.count("<tr data-run=") == 1 and f'data-run="{queued.pk}"' in html
    assert client.get("/validation/runs/", {"passport": "nope"}).content.decode().count("<tr data-run=") == 0
    assert client.get("/validation/runs/", {"state": "bogus"}).status_code == 200  # junk filters are ignored
    assert 'href="/validation/runs/"' in html  # the navigation link
    assert "<tr data-run=" not in _client(client, outsider).get("/validation/runs/").content.decode()
