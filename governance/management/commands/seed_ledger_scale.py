"""Bulk benchmark data for the finance pages: ledger entries and business cases over the 'scale-' passports."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from governance.accounts.choices import Role
from governance.accounts.models import BusinessUnit
from governance.ledger.choices import BENEFIT_CATEGORIES, LedgerCategory, LedgerSource
from governance.ledger.math import currency_exponent, quantum, to_base
from governance.ledger.models import BusinessCase, LedgerEntry, LedgerYearTotal, PlanLine
from governance.ledger.services import base_currency, ledger_totals_rebuild
from registry.management.commands.seed_scale import seed_scale
from registry.models import ModelPassport

PREFIX = "scale-"
FINANCE = "scale-finance"
CATEGORY_WEIGHTS = {
    LedgerCategory.INFERENCE: 0.25, LedgerCategory.INFRASTRUCTURE: 0.20, LedgerCategory.REVENUE_UPLIFT: 0.15,
    LedgerCategory.COST_SAVING: 0.15, LedgerCategory.STAFF: 0.08, LedgerCategory.DEVELOPMENT: 0.07,
    LedgerCategory.LICENCES: 0.04, LedgerCategory.LOSS_AVOIDED: 0.04, LedgerCategory.INCIDENT_LOSS: 0.02,
}
# Currency, share of entries, and a fixed rate to EUR (benchmark data: the rate is captured per entry anyway).
CURRENCIES = (("EUR", 0.70, Decimal("1")), ("USD", 0.15, Decimal("0.92114500")),
              ("GBP", 0.10, Decimal("1.16872000")), ("JPY", 0.05, Decimal("0.00612300")))
FIRST_PERIOD = date(2022, 1, 1)


class Command(BaseCommand):
    help = (
        "BENCHMARK DATA ONLY. Bulk-insert ledger entries (and a business case for most passports) over the 'scale-' "
        "passports, creating those first with registry's seed_scale when fewer exist than --passports. Rows are "
        "written with bulk_create: they bypass the ledger services, permission checks, full_clean and the audit "
        "events a booking writes (no audit event is appended); the year totals are then rebuilt from the entries. "
        "About 1 % of the entries are reversals of earlier "
        "ones. Also creates 'scale-finance', a finance user granted the first two scale business units. Ledger "
        "entries are append-only: to start again, drop the database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--passports", type=int, default=1_000)
        parser.add_argument("--entries", type=int, default=1_000_000)
        parser.add_argument("--batch-size", type=int, default=5_000)
        parser.add_argument("--seed", type=int, default=11)

    def handle(self, *args, **options):
        started = time.monotonic()
        if base_currency() != "EUR":
            raise CommandError("The benchmark data is in EUR terms: run with MG_BASE_CURRENCY=EUR.")
        passports = self._passports(options["passports"])
        if LedgerEntry.objects.filter(passport__in=passports).exists():
            raise CommandError("Ledger entries exist for the scale passports (append-only): drop the database first.")
        rng = np.random.default_rng(options["seed"])
        with transaction.atomic():
            finance = _finance_user()
            cases = _business_cases(rng, passports, finance)
            entries = _entries(rng, passports, options["entries"], finance, options["batch_size"], self.stdout.write)
            totals = ledger_totals_rebuild(passport_ids=[p.pk for p in passports])
        _analyze()
        self.stdout.write(self.style.SUCCESS(
            f"Ledger scale data in {time.monotonic() - started:.1f} s: {len(passports)} passports, {entries} entries, "
            f"{cases} business cases, {totals} year totals."))

    def _passports(self, wanted: int) -> list[ModelPassport]:

        if ModelPassport.objects.filter(key__startswith=PREFIX).count() < wanted:
            if ModelPassport.objects.filter(key__startswith=PREFIX).exists():
                raise CommandError("Fewer scale passports than --passports exist: run seed_scale --yes first.")
            self.stdout.write(f"Creating {wanted} scale passports (seed_scale)...")
            seed_scale(passports=wanted, versions=wanted, audit_events=0, log=self.stdout.write)
        return list(ModelPassport.objects.filter(key__startswith=PREFIX).order_by("pk")[:wanted])


def _finance_user():
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=FINANCE, defaults={"password": make_password(None)})
    user.groups.add(Group.objects.get(name=Role.FINANCE))
    for unit in BusinessUnit.objects.filter(code__startswith=PREFIX).order_by("code")[:2]:
        assign_perm("governance.manage_ledger_businessunit", user, unit)
    return user


def _months() -> list[date]:
    today = timezone.localdate()
    count = (today.year - FIRST_PERIOD.year) * 12 + today.month - FIRST_PERIOD.month + 1
    return [date(FIRST_PERIOD.year + i // 12, i % 12 + 1, 1) for i in range(count)]


def _business_cases(rng, passports, user) -> int:
    """A business case for four passports out of five: year 0 development, then yearly benefits and costs."""
    cases, lines = [], []
    for passport in passports:
        if rng.random() < 0.2:
            continue
        cases.append(BusinessCase(
            passport=passport, currency="EUR", fx_rate_to_base=Decimal(1), base_currency="EUR",
            discount_rate=Decimal("0.08"), horizon_years=5, first_year=int(rng.choice([2022, 2023])),
            notes="Synthetic (seed_ledger_scale).", updated_by=user))
    BusinessCase.objects.bulk_create(cases)
    for case in cases:
        scale = Decimal(int(rng.integers(50, 500))) * 1000
        plan = [(0, LedgerCategory.DEVELOPMENT, scale)]
        for year in range(1, 6):
            plan += [(year, LedgerCategory.COST_SAVING, scale * Decimal("0.6")),
                     (year, LedgerCategory.INFRASTRUCTURE, scale * Decimal("0.15"))]
        for index, category, amount in plan:
            sign = 1 if category in BENEFIT_CATEGORIES else -1
            lines.append(PlanLine(business_case=case, year_index=index, category=category, amount=amount,
                                  amount_base=sign * amount))
    PlanLine.objects.bulk_create(lines, batch_size=5_000)
    return len(cases)


def _entries(rng, passports, total: int, user, batch_size: int, log) -> int:
    """``total`` entries spread over the passports (skewed), about 1 % of them reversals of earlier ones."""
    weights = rng.lognormal(0.0, 0.8, len(passports))
    counts = rng.multinomial(total, weights / weights.sum())
    months = _months()
    categories, category_p = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
    currency_p = [share for _, share, _ in CURRENCIES]
    written, logged, batch = 0, 0, []
    for passport, count in zip(passports, counts, strict=True):
        reversals = int(count) // 100
        originals = _originals(rng, passport, int(count) - reversals, months, categories, category_p, currency_p,
                               user)
        batch += originals
        if len(batch) >= batch_size:
            written += _flush(batch, batch_size)
            batch = []
        if reversals:
            written += _flush(batch, batch_size)
            batch = []
            targets = rng.choice(len(originals), size=reversals, replace=False)
            batch += [_reversal(originals[int(i)], user) for i in targets]
        if written // 100_000 > logged:
            logged = written // 100_000
            log(f"  {written} entries")
    return written + _flush(batch, batch_size)


def _originals(rng, passport, count, months, categories, category_p, currency_p, user) -> list[LedgerEntry]:
    rows = []
    cat_idx = rng.choice(len(categories), size=count, p=category_p)
    cur_idx = rng.choice(len(CURRENCIES), size=count, p=currency_p)
    month_idx = rng.integers(0, len(months), size=count)
    magnitudes = rng.lognormal(7.5, 1.2, size=count)
    for i in range(count):
        category = categories[int(cat_idx[i])]
        code, _, rate = CURRENCIES[int(cur_idx[i])]
        if code == "JPY":
            magnitudes[i] *= 150
        amount = Decimal(f"{magnitudes[i]:.2f}").quantize(quantum(currency_exponent(code)))
        if amount == 0:
            amount = Decimal(1)
        amount = amount if category in BENEFIT_CATEGORIES else -amount
        period = months[int(month_idx[i])]
        predictions = int(amount * -40) if category == LedgerCategory.INFERENCE else None
        rows.append(LedgerEntry(
            passport=passport, business_unit_id=passport.business_unit_id, period=period,
            booking_date=period, category=category, amount=amount, currency=code, fx_rate_to_base=rate,
            base_currency="EUR", amount_base=to_base(amount, rate, "EUR"), predictions=predictions,
            source=LedgerSource.SERVING_USAGE if predictions else LedgerSource.IMPORT,
            description="Synthetic entry (seed_ledger_scale).", booked_by=user,
        ))
    return rows


def _reversal(original: LedgerEntry, user) -> LedgerEntry:
    return LedgerEntry(
        passport_id=original.passport_id, business_unit_id=original.business_unit_id, period=original.period,
        booking_date=original.booking_date, category=original.category, amount=-original.amount,
        currency=original.currency, fx_rate_to_base=original.fx_rate_to_base, base_currency="EUR",
        amount_base=-original.amount_base, predictions=-original.predictions if original.predictions else None,
        source=original.source, description=f"Reversal of #{original.pk} (synthetic).", reversal_of=original,
        booked_by=user,
    )


def _flush(batch: list[LedgerEntry], batch_size: int) -> int:
    if batch:
        LedgerEntry.objects.bulk_create(batch, batch_size=batch_size)
    return len(batch)


def _analyze() -> None:
    if connection.vendor != "postgresql":
        return
    tables = [model._meta.db_table for model in (LedgerEntry, LedgerYearTotal, BusinessCase, PlanLine)]
    with connection.cursor() as cursor:
        # VACUUM sets the visibility map, so the portfolio's aggregate can run as an index-only scan at once
        # (autovacuum would do the same a little later).
        cursor.execute("VACUUM (ANALYZE) " + ", ".join(connection.ops.quote_name(t) for t in tables))
