"""Long free text: every path that stores it refuses more than its limit with a clear error on the field and
stores nothing, and pages fold what is long behind "Show more" so that a long field keeps the page fast."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from core.errors import DomainError
from core.templatetags.ui import FOLD_CHARS, folded
from core.text import LONG_TEXT, REPORT_TEXT
from governance.audit.models import AuditEvent
from governance.workflow.models import Finding
from governance.workflow.services import findings
from registry import services as registry_services
from registry.models import ModelPassport
from tests.api_helpers import API, assert_error, bearer_client
from tests.factories import make_passport
from tests.governance.workflow_helpers import Cast, issue_report, register, to_in_validation

pytestmark = pytest.mark.django_db


def _body(passport, **extra):
    return {"key": "long-model", "name": "Long", "purpose": "Predict.", "business_owner": passport.business_owner_id,
            "technical_owner": passport.technical_owner_id, "development_team": passport.development_team_id,
            "business_unit": passport.business_unit.code, "materiality": "low", "decision_type": "human_in_the_loop",
            "regulatory_exposure": "none", **extra}


def test_api_refuses_a_passport_field_over_the_limit_and_stores_nothing(passport, developer):
    client = bearer_client(developer)
    events = AuditEvent.objects.count()
    too_long = client.post(f"{API}/passports/", _body(passport, limitations="x" * (LONG_TEXT + 1)), format="json")
    error = assert_error(too_long, 400, "invalid")
    assert error["field"] == "limitations" and "20000" in str(error["details"]).replace(",", "").replace("\u00a0", "")
    assert not ModelPassport.objects.filter(key="long-model").exists() and AuditEvent.objects.count() == events
    at_limit = client.post(f"{API}/passports/", _body(passport, limitations="x" * LONG_TEXT), format="json")
    assert at_limit.status_code == 201, at_limit.data
    edit = client.patch(f"{API}/passports/long-model/", {"purpose": "y" * (LONG_TEXT + 1)}, format="json")
    assert assert_error(edit, 400, "invalid")["field"] == "purpose"
    assert ModelPassport.objects.get(key="long-model").purpose == "Predict."


def test_the_passport_form_says_which_field_is_too_long(client, passport, developer):
    client.force_login(developer)
    response = client.post(reverse("registry:passport_edit", args=[passport.key]),
                           {**_form(passport), "data_sources": "z" * (LONG_TEXT + 5)})
    assert response.status_code == 200
    assert "data_sources" in response.context["form"].errors
    passport.refresh_from_db()
    assert passport.data_sources == ""


def _form(passport):
    return {"name": passport.name, "purpose": passport.purpose, "intended_use": "", "out_of_scope_uses": "",
            "technical_owner": passport.technical_owner_id, "development_team": passport.development_team_id,
            "business_unit": passport.business_unit_id, "personal_data_legal_basis": "", "data_sources": "",
            "features_description": "", "target": "", "limitations": "", "stop_limits": "{}",
            "monitoring_thresholds": "{}", "contacts": ""}


def test_services_refuse_long_findings_and_conclusions(passport, developer):
    cast = Cast()
    version = to_in_validation(register(passport, developer), developer, cast)
    with pytest.raises(DomainError) as raised:
        findings.finding_raise(actor=cast.validator, version=version, title="Too long", severity="low",
                               description="d" * (LONG_TEXT + 1), owner=developer, due_date=dt.date(2027, 1, 1))
    assert raised.value.field == "description" and not Finding.objects.exists()
    with pytest.raises(DomainError) as raised:
        from django.core.files.uploadedfile import SimpleUploadedFile

        from validation import services as validation_services

        validation_services.report_issue_uploaded(rating="fit", actor=cast.validator, version=version,
                                                  upload=SimpleUploadedFile("r.md", b"report"),
                                                  conclusion="c" * (REPORT_TEXT + 1))
    assert raised.value.field == "conclusion"
    issue_report(version, cast.validator)  # a normal one still goes through


def test_folded_text_shows_the_start_and_keeps_the_rest_behind_show_more():
    assert folded("") == "—" and folded("   ") == "—"
    short = folded("one\ntwo <b>")
    assert short == "one<br>two &lt;b&gt;"
    text = ("word " * 30_000).strip() + " <script>x</script>"
    html = folded(text)
    head, _summary, tail = html.partition("</summary>")
    assert len(head) < FOLD_CHARS + 400 and "Show more" in head and "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in tail and html.count("word") == 30_000
    lines = folded("\n".join(f"line {i}" for i in range(30)))
    assert lines.index("line 7") < lines.index("<details") < lines.index("line 8")


def test_a_passport_with_long_fields_folds_them_on_its_page(client, developer, team, owner):
    long = "A long description of the data. " * 600
    passport = make_passport(actor=developer, key="long-page", team=team, business_owner=owner)
    registry_services.passport_update(actor=developer, passport=passport, data_sources=long[:LONG_TEXT])
    client.force_login(developer)
    html = client.get(reverse("registry:passport_detail", args=[passport.key])).content.decode()
    assert html.count('class="fold-more"') == 1 and "Show more" in html
