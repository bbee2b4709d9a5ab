"""Inference cost from serving usage: host hours shared by predictions, booked once a day through the ledger's
service as metered inference cost, and the ledger's cost per 1,000 predictions follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from governance.audit.models import AuditEvent
from governance.ledger.models import LedgerEntry
from serving import services
from serving.models import Host, UsageBooking
from serving.usage import book_day, book_pending, usage_for_day

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 11, 30, tzinfo=UTC)


def windows(deployment, version, hour: int, count: int, predictions: int, first_sequence: int):
    start = DAY + timedelta(hours=hour)
    return [{"deployment": deployment.pk, "version": version, "sequence": first_sequence + i,
             "started_at": start + timedelta(minutes=i), "ended_at": start + timedelta(minutes=i + 1),
             "requests": predictions, "predictions": predictions} for i in range(count)]


@pytest.fixture
def served(serving):
    w = serving
    Host.objects.filter(pk=w.host_a.pk).update(cost_per_hour=Decimal("2.40"), currency="EUR")
    Host.objects.filter(pk=w.host_b.pk).update(cost_per_hour=Decimal("1.00"), currency="EUR")
    w.deployment = services.deployment_create(actor=w.engineer, passport=w.passport, version=1,
                                              hosts=[w.host_a.pk, w.host_b.pk])
    # host a serves two hours, host b one hour, 100 predictions a minute-window
    services.windows_ingest(host=w.host_a, windows=windows(w.deployment, 1, 9, 60, 100, 0))
    services.windows_ingest(host=w.host_a, windows=windows(w.deployment, 1, 10, 30, 100, 100))
    services.windows_ingest(host=w.host_b, windows=windows(w.deployment, 1, 9, 10, 100, 0))
    return w


def test_a_day_is_booked_once_as_metered_inference_cost(served):
    w = served
    usage = usage_for_day(DAY.date())[(w.passport.pk, "EUR")]
    assert usage["predictions"] == (60 + 30 + 10) * 100 and usage["cost"] == Decimal("5.80")  # 2 x 2.40 + 1.00
    result = book_day(DAY.date())
    assert [b["amount"] for b in result["booked"]] == ["5.80"] and result["skipped"] == []
    entry = LedgerEntry.objects.get()
    assert (entry.category, entry.source, entry.predictions, entry.booked_by) == (
        "inference", "serving_usage", 10_000, None)
    assert entry.period.isoformat() == "2026-11-01" and entry.booked_by_name == "serving usage"
    event = AuditEvent.objects.get(action="ledger.entry_booked")
    assert event.actor_repr == "serving usage" and event.data["predictions"] == 10_000
    assert book_day(DAY.date())["booked"] == []  # once a day
    assert LedgerEntry.objects.count() == 1 and UsageBooking.objects.get().entry == entry
    assert book_pending(today=DAY.date() + timedelta(days=1))[-1]["booked"] == []


def test_the_ledger_shows_the_cost_per_thousand(served, client):
    from governance.ledger.selectors import ledger_figures

    book_day(DAY.date())
    figures = ledger_figures(passport=served.passport)
    assert figures["cost_per_1000_inferences"] == Decimal("0.5800")  # 5.80 per 10,000 predictions


def test_costs_in_another_currency_are_reported_not_booked(served):
    Host.objects.update(currency="USD")
    result = book_day(DAY.date())
    assert result["booked"] == [] and "USD" in result["skipped"][0]["reason"]
    assert not LedgerEntry.objects.exists()


def test_a_person_cannot_book_as_the_platform(served):
    from core.errors import PermissionDenied
    from governance.ledger.services import metered_usage_book

    with pytest.raises(PermissionDenied):
        metered_usage_book(actor=served.engineer, passport=served.passport, amount=Decimal("1.00"), currency="EUR",
                           period=DAY.date().replace(day=1), predictions=10, description="Forged usage")
    assert not LedgerEntry.objects.exists()
