"""The validator chooses the language of the report (English or Russian): the HTML, the PDF and the record are
written in it and it is recorded with the report, in the audit event and in the API; another language is a 400
that renders nothing."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from governance.audit.models import AuditEvent
from tests.api_helpers import API, assert_error, bearer_client
from validation import services
from validation.choices import RunState
from validation.models import ValidationReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def succeeded(low, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(actor=low.validator, version=low.version, reference=low.reference,
                                 validation=low.validation, target=low.target)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    return low, run


def test_a_report_in_russian_is_written_and_recorded_in_russian(succeeded):
    low, run = succeeded
    report = services.report_issue_generated(actor=low.validator, run=run, conclusion="Годна к применению.",
                                             rating="fit", language="ru")
    assert report.language == "ru"
    html = report.file.open("rb").read().decode()
    assert '<html lang="ru">' in html and "Отчёт о валидации" in html and "Validation report:" not in html
    assert "Объяснимость" in html or "объяснимость" in html.lower()
    event = AuditEvent.objects.get(action="report.issued", object_id=str(report.pk))
    assert event.data["language"] == "ru"
    english = services.report_issue_generated(actor=low.validator, run=run, conclusion="Fit for purpose.",
                                              rating="fit", language="en")
    assert english.language == "en" and '<html lang="en">' in english.file.open("rb").read().decode()


def test_the_api_takes_the_language_and_refuses_others(succeeded):
    low, run = succeeded
    client = bearer_client(low.validator, ["governance:write"])
    url = f"{API}/validation/runs/{run.pk}/report/"
    refused = client.post(url, {"conclusion": "Fit.", "rating": "fit", "language": "de"}, format="json")
    assert assert_error(refused, 400)["field"] == "language"
    assert not ValidationReport.objects.exists()
    with pytest.raises(DomainError) as raised:
        services.report_issue_generated(actor=low.validator, run=run, conclusion="Fit.", rating="fit", language="fr")
    assert raised.value.field == "language"
    made = client.post(url, {"conclusion": "Годна.", "rating": "fit", "language": "ru"}, format="json")
    assert made.status_code == 201, made.data
    assert made.data["language"] == "ru"


def test_a_tests_note_is_shown_in_the_readers_language_and_kept_in_english():
    from django.utils.translation import override

    from validation import run_display

    note = "No segment column was chosen for this run."
    results = {"order": ["segments"], "tests": {"segments": {"status": "skipped", "passed": None, "note": note,
                                                             "metrics": {}}}}
    with override("ru"):
        sections, _charts = run_display.sections(results)
    assert sections[0].note == "Для этого прогона не выбран столбец сегментов."
    assert results["tests"]["segments"]["note"] == note
    with override("en"):
        assert run_display.sections(results)[0][0].note == note


def test_a_note_with_values_and_the_gaps_read_in_the_readers_language(succeeded):
    """A reason that carries values (the explainer's error) is kept in English with its message and values apart,
    and shown in Russian with the same values; the sign-off card's gaps follow the reader too."""
    from django.utils.translation import override

    from validation.checks import errored, gettext_noop, note_text
    from validation.gaps import run_gaps

    result = errored(gettext_noop("The explainer failed: %(error)s"), {"error": "ValueError: <b>no trees</b>"})
    assert result["note"] == "The explainer failed: ValueError: <b>no trees</b>" and result["status"] == "error"
    with override("ru"):
        assert note_text(result) == "Объяснитель завершился ошибкой: ValueError: <b>no trees</b>"
    broken = {**result, "note_args": {"other": "x"}}  # values that do not fit the message: the English, not a 500
    with override("ru"):
        assert note_text(broken) == result["note"]

    _low, run = succeeded
    run.thresholds = {**run.thresholds, "tests": [*run.thresholds["tests"], "robustness_extra"]}
    run.results["tests"]["explainability"] = result
    run.results["tests"]["performance"] = {**run.results["tests"]["performance"], "status": "failed", "note": "",
                                           "headline": "auc", "value": 0.61, "threshold": 0.7, "op": ">="}
    with override("ru"):
        gaps = run_gaps(run)
    assert {"test": "robustness_extra", "label": "Robustness extra", "note": "не выполнен"} in gaps["skipped"]
    failed = {g["test"]: g for g in gaps["failed"]}
    assert failed["explainability"]["note"] == "Объяснитель завершился ошибкой: ValueError: <b>no trees</b>"
    assert failed["explainability"]["label"] == "Объяснимость (SHAP)"
    # a failed test without a note says which metric failed it, by its name and not its key
    assert failed["performance"]["note"] == "AUC 0.61, допустимо >= 0.7"
    assert failed["performance"]["label"] == "Предсказательная сила"
    with override("en"):
        gaps = run_gaps(run)
    assert {"test": "robustness_extra", "label": "Robustness extra", "note": "not run"} in gaps["skipped"]
    assert {g["test"]: g["note"] for g in gaps["failed"]}["performance"] == "AUC 0.61, allowed >= 0.7"


def test_psi_bands_read_in_the_readers_language():
    from django.utils.translation import override

    from validation import run_display

    result = {"status": "passed", "passed": True, "metrics": {},
              "features": {"income": {"value": 0.12, "band": "moderate", "threshold": 0.2, "op": "<=", "passed": True}},
              "score": {"value": 0.01, "band": "stable", "threshold": 0.1, "op": "<=", "passed": True}}
    with override("ru"):
        (table,) = run_display.TABLES["stability"](result)
    assert [row[2].text for row in table.rows] == ["умеренный сдвиг", "стабильно"]
    with override("en"):
        (table,) = run_display.TABLES["stability"](result)
    assert [row[2].text for row in table.rows] == ["moderate shift", "stable"]
