"""The audit log people can read: a sentence per event in the reader's language with links to what it names,
filters by date, actor, passport and action, and a CSV export of what the filters select."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.audit.describe import ACTIONS
from governance.audit.models import AuditEvent
from governance.workflow.services import findings
from tests.api_helpers import raw_sql
from tests.factories import UserFactory, make_passport
from tests.governance.workflow_helpers import Cast, approve_validated, register, to_validated

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil/")<script>alert(1)</script>'


def _text(html: str) -> str:
    """The page's visible text: no tags, no attribute values."""
    body = html.split("<main", 1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


@pytest.fixture
def approved(developer, owner, team):
    """A tier-1 version walked to approval, a finding raised on it and a ledger entry booked: most kinds of event."""
    cast = Cast()
    passport = make_passport(actor=developer, key="credit-score", team=team, business_owner=owner)
    version = to_validated(register(passport, developer), developer, cast)
    findings.finding_raise(actor=cast.validator, version=version, title="Calibration drifts", severity="low",
                           description="", owner=developer, due_date=dt.date(2027, 1, 31))
    approve_validated(version, cast, owner)
    return passport, version, cast


def _source_actions() -> set[str]:
    """Every action the code appends, read from the source: literal names passed to the audit helpers, and the
    names the access receivers build from their verbs."""
    root = Path(settings.BASE_DIR)
    found: set[str] = set()
    call = re.compile(r'(?:action=|_audit\(\w+, |_audit_run\(run, |_record\()"([a-z_]+\.[a-z_]+)"')
    for package in ("governance", "registry", "validation", "serving"):
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts or "agent" in path.parts:
                continue
            found |= set(call.findall(path.read_text(encoding="utf-8")))
    verbs = {"user": ("roles_granted", "roles_revoked", "permissions_granted", "permissions_revoked"),
             "team": ("members_added", "members_removed")}
    found |= {f"{family}.{verb}" for family, names in verbs.items() for verb in names}
    return found


def test_every_action_the_code_writes_has_words():
    actions = _source_actions()
    assert len(actions) > 50, sorted(actions)
    assert sorted(actions - ACTIONS.keys()) == []


def test_events_read_as_sentences_with_links(client, auditor, approved):
    passport, version, _cast = approved
    client.force_login(auditor)
    html = client.get(reverse("governance:audit_log")).content.decode()
    version_url = reverse("registry:version_detail", args=[passport.key, version.number])
    assert f'<strong>dev</strong> submitted <a href="{version_url}">version 1 of credit-score</a> for validation.' \
        in html
    assert f'signed <a href="{version_url}#wf-signoffs">version 1 of credit-score</a> as Business owner: Approve.' \
        in html
    assert f'raised the finding <a href="{version_url}#finding-' in html
    text = _text(html)
    # internal labels of the old page are gone from what people read
    for internal in ("governance.signoff", "registry.modelversion", "business_owner", "risk_officer",
                     "version.submitted", "signoff.recorded"):
        assert internal not in text, internal
    assert "{" not in text and "}" not in text  # no raw JSON and no unfilled placeholder


def test_the_log_is_in_russian_for_a_russian_reader(client, auditor, approved):
    client.force_login(auditor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    html = client.get(reverse("governance:audit_log")).content.decode()
    text = _text(html)
    assert "отправил(а) на валидацию credit-score v1" in text
    assert "подписал(а) credit-score v1 как Бизнес-владелец: Утвердить." in text and "Business owner" not in text
    assert "submitted" not in text and "signed" not in text
    # every label of the details is in Russian (SHA-256, PDF and URL are names, not words)
    labels = {re.sub(r"SHA-256|PDF|URL|IP|Id|OWASP|\(opset\)", "", t) for t in re.findall(r"<dt>([^<]*)</dt>", html)}
    assert labels and [t for t in labels if t.strip() and not re.search("[а-яА-Я]", t)] == []


def test_a_page_costs_the_same_queries_however_many_kinds_of_object(client, auditor, approved, developer, team):
    client.force_login(auditor)
    url = reverse("governance:audit_log")
    with CaptureQueriesContext(connection) as first:
        client.get(url, {"page": 1})
    for i in range(20):
        make_passport(actor=developer, key=f"extra-{i}", team=team)
    with CaptureQueriesContext(connection) as second:
        client.get(url, {"page": 1})
    assert len(second) <= len(first) + 1, [q["sql"] for q in second.captured_queries]


def test_filters_by_date_actor_passport_and_action(client, auditor, approved, developer, team):
    passport, _version, cast = approved
    make_passport(actor=developer, key="other-model", team=team)
    old = AuditEvent.objects.get(action="passport.created", passport_key="other-model")
    # events are append-only (a trigger on PostgreSQL): moved back in time as the tables' owner would
    raw_sql("UPDATE governance_auditevent SET occurred_at = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(days=40), old.pk])
    client.force_login(auditor)
    url = reverse("governance:audit_log")

    def count(**params):
        response = client.get(url, params)
        assert response.status_code == 200
        return response.context["page"].paginator.count

    total = AuditEvent.objects.count()
    today = timezone.now().astimezone(dt.UTC).date()
    assert count(date_from=str(today)) == total - 1
    assert count(date_to=str(today - dt.timedelta(days=1))) == 1
    assert count(date_from=str(today - dt.timedelta(days=40)), date_to=str(today - dt.timedelta(days=40))) == 1
    assert count(actor="val") == AuditEvent.objects.filter(actor_repr="val").count() > 3
    assert count(passport="other-model") == 1
    assert count(action="signoff.recorded") == 4
    assert count(action="signoff.") == AuditEvent.objects.filter(action__startswith="signoff.").count()
    assert count(passport=passport.key, action="version.", actor="risk") >= 1
    # a bad range says so and hides nothing behind it
    bad = client.get(url, {"date_from": str(today), "date_to": str(today - dt.timedelta(days=2))})
    assert "The end date is before the start date." in bad.content.decode()
    assert bad.context["page"].paginator.count == total
    assert client.get(url, {"date_from": "yesterday"}).context["page"].paginator.count == total


def test_action_filter_offers_readable_choices(client, auditor, approved):
    client.force_login(auditor)
    html = client.get(reverse("governance:audit_log")).content.decode()
    assert '<optgroup label="Sign-offs">' in html
    assert '<option value="signoff.recorded">Sign-off recorded</option>' in html
    assert '<option value="version.">All: Versions</option>' in html
    # an old bookmark with a prefix the list does not offer still filters
    page = client.get(reverse("governance:audit_log"), {"action": "version."})
    assert page.context["page"].paginator.count == AuditEvent.objects.filter(action__startswith="version.").count()


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_csv_export_follows_the_filters_in_the_readers_language(client, auditor, approved):
    passport, _version, _cast = approved
    client.force_login(auditor)
    url = reverse("governance:audit_export")
    response = client.get(url, {"action": "signoff.recorded"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"] and response["Cache-Control"] == "no-store"
    rows = _csv(response)
    assert len(rows) == 4 and [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    event = AuditEvent.objects.get(seq=rows[0]["seq"])
    assert rows[0]["hash"] == event.hash and rows[0]["prev_hash"] == event.prev_hash
    assert rows[0]["action"] == "signoff.recorded" and rows[0]["action_label"] == "Sign-off recorded"
    assert rows[0]["summary"].startswith("val signed version 1 of credit-score as Validator: Approve")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    ru = _csv(client.get(url, {"action": "signoff.recorded"}))
    assert "подписал(а) credit-score v1 как Валидатор: Утвердить" in ru[0]["summary"]
    everything = _csv(client.get(url))
    assert len(everything) == AuditEvent.objects.count()
    assert [int(r["seq"]) for r in everything] == list(range(1, len(everything) + 1))


def test_csv_export_neutralises_formulas_and_refuses_bad_filters(client, auditor, developer, team):
    make_passport(actor=developer, key="hostile", team=team, name=HOSTILE)
    client.force_login(auditor)
    rows = _csv(client.get(reverse("governance:audit_export"), {"passport": "hostile"}))
    assert rows and all(not v.startswith(("=", "+", "-", "@")) for row in rows for v in row.values())
    assert rows[0]["object"].startswith("hostile: =HYPERLINK")
    bad = client.get(reverse("governance:audit_export"), {"date_from": "2026-02-30"})
    assert bad.status_code == 302 and bad["Location"].startswith(reverse("governance:audit_log"))


def test_export_and_page_need_the_audit_permission(client, developer, passport):
    client.force_login(developer)
    assert client.get(reverse("governance:audit_export")).status_code == 403
    client.logout()
    assert client.get(reverse("governance:audit_export")).status_code == 302


def test_hostile_text_stays_text_in_sentences(client, auditor, developer, team):
    make_passport(actor=developer, key="hostile", team=team, name=HOSTILE)
    UserFactory(username="mallory", first_name="<img src=x onerror=alert(1)>", roles=["auditor"])  # an event names
    client.force_login(auditor)
    html = client.get(reverse("governance:audit_log")).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_system_actors_read_in_the_readers_language(client, auditor, developer, team):
    from django.db import transaction

    from core.actors import SystemActor
    from governance.audit.services import audit_append

    passport = make_passport(actor=developer, key="sys-model", team=team)
    with transaction.atomic():
        audit_append(actor=SystemActor("host gpu-01"), action="passport.changed", obj=passport,
                     passport_key=passport.key)
        audit_append(actor=SystemActor("worker celery@w1"), action="no.such_action", obj=passport,
                     passport_key=passport.key, data={"odd_key": "x"})
    client.force_login(auditor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    text = _text(client.get(reverse("governance:audit_log")).content.decode())
    assert "Хост gpu-01" in text
    assert "Обработчик celery@w1" in text and "no.such_action" in text
