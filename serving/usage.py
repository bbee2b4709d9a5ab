"""Inference cost from serving usage, booked into each passport's ledger once a day.

A day's cost of a passport: every hour a host served, the host's cost per hour, shared between the deployments it
served that hour by their predictions (equally when none had any); summed per passport and currency. The
predictions are the day's served predictions. Booked through the ledger's own service
(``metered_usage_book``: category inference, source serving usage, by the system actor ``serving usage``), never
by writing entries, and recorded in ``UsageBooking`` in the same transaction, so a day is booked at most once.
Host costs in a currency other than the ledger's base need a rate that serving does not know: those days are
reported, not booked.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.db import IntegrityError

from core.actors import SystemActor
from core.errors import DomainError
from governance.ledger.services import metered_usage_book
from registry.models import ModelPassport
from serving.models import Host, MonitoringHour, UsageBooking

USAGE = SystemActor("serving usage")
CENT = Decimal("0.01")


def usage_for_day(day: date) -> dict[tuple[int, str], dict]:
    """{(passport id, currency): {"cost", "predictions", "host_hours", "hosts": {name: cost}}} for ``day`` (UTC)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = list(MonitoringHour.objects.filter(hour__gte=start, hour__lt=start + timedelta(days=1))
                .values("host_id", "hour", "passport_id", "predictions"))
    hosts = {h.pk: h for h in Host.objects.filter(pk__in={r["host_id"] for r in rows})}
    by_host_hour: dict[tuple[int, datetime], list[dict]] = defaultdict(list)
    for row in rows:
        by_host_hour[(row["host_id"], row["hour"])].append(row)
    usage: dict[tuple[int, str], dict] = {}
    for (host_id, _hour), served in by_host_hour.items():
        host = hosts[host_id]
        total = sum(r["predictions"] for r in served)
        for row in served:
            share = Decimal(row["predictions"]) / total if total else Decimal(1) / len(served)
            slot = usage.setdefault((row["passport_id"], host.currency), {
                "cost": Decimal(0), "predictions": 0, "host_hours": Decimal(0), "hosts": defaultdict(Decimal)})
            slot["cost"] += host.cost_per_hour * share
            slot["host_hours"] += share
            slot["predictions"] += row["predictions"]
            slot["hosts"][host.name] += host.cost_per_hour * share
    return usage


def book_day(day: date) -> dict:
    """Book ``day``'s inference cost of every passport that served; returns what was booked and skipped."""
    booked, skipped = [], []
    base = settings.MG_BASE_CURRENCY
    for (passport_id, currency), slot in sorted(usage_for_day(day).items()):
        passport = ModelPassport.objects.get(pk=passport_id)
        amount = slot["cost"].quantize(CENT, rounding=ROUND_HALF_EVEN)
        if UsageBooking.objects.filter(passport=passport, day=day, currency=currency).exists():
            continue
        if currency != base:
            skipped.append({"passport": passport.key, "reason": f"host costs in {currency}, the ledger's base is "
                                                                f"{base}: book them by hand with a rate"})
            continue
        if amount <= 0:
            skipped.append({"passport": passport.key, "reason": "no host cost (cost per hour 0)"})
            continue
        host_hours = slot["host_hours"].quantize(Decimal("0.0001"))
        evidence = json.dumps({"day": day.isoformat(), "predictions": slot["predictions"],
                               "host_hours": str(host_hours),
                               "hosts": {k: str(v.quantize(Decimal("0.0001"))) for k, v in slot["hosts"].items()}},
                              sort_keys=True)

        def record(entry, passport=passport, currency=currency, slot=slot, host_hours=host_hours):
            UsageBooking.objects.create(passport=passport, day=day, currency=currency, entry=entry,
                                        predictions=slot["predictions"], host_hours=host_hours)

        try:
            entry = metered_usage_book(
                actor=USAGE, passport=passport, amount=amount, currency=currency, period=day.replace(day=1),
                predictions=slot["predictions"], evidence_text=evidence, then=record,
                description=f"Inference on {day.isoformat()}: {slot['predictions']:,} predictions, "
                            f"{host_hours} host-hours")
        except IntegrityError:  # booked meanwhile by another worker: the unique day row refused the second
            continue
        except DomainError as exc:
            skipped.append({"passport": passport.key, "reason": exc.message})
            continue
        booked.append({"passport": passport.key, "entry": entry.pk, "amount": str(amount),
                       "predictions": slot["predictions"]})
    return {"day": day.isoformat(), "booked": booked, "skipped": skipped}


def book_pending(today: date | None = None, days_back: int = 7) -> list[dict]:
    """Book every complete UTC day of the last ``days_back`` that is not booked yet (idempotent)."""
    today = today or datetime.now(UTC).date()
    return [book_day(today - timedelta(days=n)) for n in range(days_back, 0, -1)]
