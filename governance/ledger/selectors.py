"""Ledger reads: entries, a passport's derived figures and plan vs actual, the portfolio, limited to what the user
may see (``governance.ledger.permissions``). Sums run in the database over the stored ``amount_base``; Python
only turns a handful of per-year sums into payback and NPV (``governance.ledger.math``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, ExtractYear, NullIf
from django.http import Http404
from django.utils import timezone

from governance.ledger import math as ledger_math
from governance.ledger.choices import BENEFIT_CATEGORIES, COST_CATEGORIES, LedgerCategory
from governance.ledger.models import BusinessCase, LedgerEntry, LedgerYearTotal, PlanLine
from governance.ledger.permissions import visible_ledger_filter
from registry.models import ModelPassport

MONEY = DecimalField(max_digits=18, decimal_places=2)
ZERO = Value(Decimal(0), output_field=MONEY)
BENEFIT = Q(category__in=sorted(BENEFIT_CATEGORIES))
COST = Q(category__in=sorted(COST_CATEGORIES))
CENT = Decimal("0.01")



def cents(value) -> Decimal | None:
    """A SQL sum as exact money. PostgreSQL sums ``numeric`` exactly; SQLite keeps decimals as floating point,
    so its sums are rounded back to the cent here (exact while totals stay below about 10^13)."""
    if value is None:
        return None
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


# Portfolio columns a client may sort by (API ``ordering`` and the page's headers); ``-`` for descending.
PORTFOLIO_ORDERING = {
    "key": "key", "name": "name", "risk_tier": "risk_tier", "business_unit": "business_unit__code",
    "benefits": "benefits", "costs": "costs", "net": "net", "roi": "roi", "plan_variance": "plan_variance",
}


# --------------------------------------------------------------------------- passports and entries


def ledger_passports(*, user) -> QuerySet[ModelPassport]:
    """Passports whose ledger ``user`` may read."""
    condition = visible_ledger_filter(user)
    qs = ModelPassport.objects.all()
    return qs if condition is None else qs.filter(condition)


def ledger_passport_get(*, user, key: str) -> ModelPassport:
    """The passport with ``key`` if ``user`` may read its ledger; Http404 otherwise (missing and forbidden
    look alike: a user who sees the passport but not its amounts gets a 404 for the ledger)."""
    passport = ledger_passports(user=user).select_related("business_unit", "business_owner").filter(key=key).first()
    if passport is None:
        raise Http404("No such passport ledger.")
    return passport


def entry_list(*, user, passport: ModelPassport | None = None, filters: dict | None = None) -> QuerySet[LedgerEntry]:
    """Entries of ledgers ``user`` may read, newest period first, with what a list shows fetched up front.

    filters: ``passport`` (key), ``business_unit`` (code), ``category``, ``source``, ``period_from`` and
    ``period_to`` (dates, months included), ``version`` (number), ``reversals`` (True: only reversals,
    False: none).
    """
    filters = filters or {}
    qs = LedgerEntry.objects.all()
    condition = visible_ledger_filter(user)
    if condition is not None:
        qs = qs.filter(passport__in=ModelPassport.objects.filter(condition).values("pk"))
    if passport is not None:
        qs = qs.filter(passport=passport)
    if key := filters.get("passport"):
        qs = qs.filter(passport__key=key)
    if unit := filters.get("business_unit"):
        qs = qs.filter(business_unit__code=unit)
    for name in ("category", "source"):
        if value := filters.get(name):
            qs = qs.filter(**{name: value})
    if period_from := filters.get("period_from"):
        qs = qs.filter(period__gte=period_from.replace(day=1))
    if period_to := filters.get("period_to"):
        qs = qs.filter(period__lte=period_to)
    if (number := filters.get("version")) is not None:
        qs = qs.filter(version__number=number)
    if (reversals := filters.get("reversals")) is not None:
        qs = qs.filter(reversal_of__isnull=not reversals)
    return qs.select_related("passport", "version", "business_unit", "booked_by", "reversed_by").order_by(
        "-period", "-pk")


def entry_get(*, user, pk: int, passport: ModelPassport | None = None) -> LedgerEntry:
    entry = entry_list(user=user, passport=passport).filter(pk=pk).first()
    if entry is None:
        raise Http404("No such ledger entry.")
    return entry


def business_case_get(*, passport: ModelPassport) -> BusinessCase | None:
    """The passport's business case with its plan lines (the caller has checked the ledger is visible)."""
    return BusinessCase.objects.filter(passport=passport).select_related("updated_by").prefetch_related(
        "lines").first()


# --------------------------------------------------------------------------- one passport's figures


def _year_sums(entries: QuerySet[LedgerEntry]) -> QuerySet:
    """Benefits, costs and net per (passport, calendar year): the few rows payback and NPV are computed from."""
    return (entries.annotate(year=ExtractYear("period")).values("passport_id", "year")
            .annotate(benefits=Coalesce(Sum("amount_base", filter=BENEFIT), ZERO),
                      costs=Coalesce(Sum("amount_base", filter=COST), ZERO), net=Sum("amount_base"))
            .order_by("passport_id", "year"))


def _by_index(rows, first_year: int) -> dict[int, dict[str, Decimal]]:
    out: dict[int, dict[str, Decimal]] = defaultdict(lambda: {"benefits": Decimal(0), "costs": Decimal(0)})
    for row in rows:
        bucket = out[ledger_math.year_index(row["year"], first_year)]
        bucket["benefits"] += cents(row["benefits"])
        bucket["costs"] += cents(row["costs"])
    return out


def _flows(buckets: dict[int, dict[str, Decimal]], length: int = 0) -> list[Decimal]:
    size = max([length, *(index + 1 for index in buckets)])
    return [buckets[i]["benefits"] + buckets[i]["costs"] if i in buckets else Decimal(0) for i in range(size)]


def ledger_figures(*, passport: ModelPassport, today: date | None = None) -> dict:
    """Totals, ROI, payback (years, and years + months), NPV, cost per 1000 inferences and plan vs actual per
    business-case year for one passport (whose ledger the caller has checked the user may read).

    Without a business case, year 1 is the calendar year of the first entry and there is no NPV or plan.
    """
    today = today or timezone.localdate()
    entries = LedgerEntry.objects.filter(passport=passport)
    totals = entries.aggregate(
        benefits=Coalesce(Sum("amount_base", filter=BENEFIT), ZERO), costs=Coalesce(Sum("amount_base", filter=COST),
                                                                                    ZERO),
        inference=Coalesce(Sum("amount_base", filter=Q(category=LedgerCategory.INFERENCE)), ZERO),
        predictions=Sum("predictions"),
    )
    totals.update({name: cents(totals[name]) for name in ("benefits", "costs", "inference")})
    years = list(_year_sums(entries))
    case = business_case_get(passport=passport)
    first_year = case.first_year if case else (years[0]["year"] if years else today.year)
    actual = _by_index(years, first_year)
    planned = _plan_by_index(case)
    net = totals["benefits"] + totals["costs"]
    actual_flows = _flows(actual)
    plan_flows = _flows(planned, case.horizon_years + 1 if case else 0)
    payback = ledger_math.payback_years(actual_flows) if years else None
    plan_to_date = ledger_math.plan_to_date(dict(enumerate(plan_flows)), first_year, today) if case else None
    return {
        "base_currency": case.base_currency if case else None,
        "benefits": totals["benefits"], "costs": -totals["costs"], "net": net,
        "roi": ledger_math.roi(net, totals["costs"]),
        "payback_years": payback, "payback": ledger_math.years_months(payback),
        "npv": ledger_math.npv(actual_flows, case.discount_rate) if case and years else None,
        "inference_costs": -totals["inference"], "predictions": totals["predictions"],
        "cost_per_1000_inferences": ledger_math.cost_per_thousand(totals["inference"], totals["predictions"]),
        "first_year": first_year if years or case else None,
        "plan": _plan_figures(case, plan_flows, plan_to_date, net),
        "years": _plan_vs_actual(actual, planned, len(plan_flows), first_year, today), "today": today,
    }


def _plan_by_index(case: BusinessCase | None) -> dict[int, dict[str, Decimal]]:
    out: dict[int, dict[str, Decimal]] = defaultdict(lambda: {"benefits": Decimal(0), "costs": Decimal(0)})
    for line in case.lines.all() if case else ():
        out[line.year_index]["benefits" if line.category in BENEFIT_CATEGORIES else "costs"] += line.amount_base
    return out


def _plan_figures(case, plan_flows, plan_to_date, net) -> dict | None:
    if case is None:
        return None
    planned_costs = sum((line.amount_base for line in case.lines.all() if line.category in COST_CATEGORIES),
                        Decimal(0))
    payback = ledger_math.payback_years(plan_flows)
    return {
        "net": sum(plan_flows, Decimal(0)), "roi": ledger_math.roi(sum(plan_flows, Decimal(0)), planned_costs),
        "npv": ledger_math.npv(plan_flows, case.discount_rate), "payback_years": payback,
        "payback": ledger_math.years_months(payback), "discount_rate": case.discount_rate,
        "horizon_years": case.horizon_years, "plan_to_date": plan_to_date, "variance_to_date": net - plan_to_date,
    }


def _plan_vs_actual(actual, planned, plan_length: int, first_year: int, today: date) -> list[dict]:
    """One row per business-case year. A year that has not begun has no actuals and no variance (None, not 0);
    the current year is compared with the plan's share to the end of this month (straight-line phasing, as
    ``plan_to_date``), and says so (``to_date``)."""
    rows, cumulative_plan, cumulative_actual = [], Decimal(0), Decimal(0)
    size = max([plan_length, *(i + 1 for i in actual), *(i + 1 for i in planned)])
    current = ledger_math.year_index(today.year, first_year)
    for index in range(size):
        plan = planned.get(index, {"benefits": Decimal(0), "costs": Decimal(0)})
        act = actual.get(index, {"benefits": Decimal(0), "costs": Decimal(0)})
        plan_net, actual_net = plan["benefits"] + plan["costs"], act["benefits"] + act["costs"]
        cumulative_plan += plan_net
        future = index > current and index not in actual
        to_date = index == current and index > 0
        compared = ledger_math.from_twelfths(plan_net * today.month) if to_date else plan_net
        if not future:
            cumulative_actual += actual_net
        rows.append({
            "year_index": index, "calendar_year": first_year + index - 1 if index else None,
            "first_year": first_year, "future": future, "to_date": to_date,
            "planned_benefits": plan["benefits"], "planned_costs": -plan["costs"], "planned_net": plan_net,
            "actual_benefits": None if future else act["benefits"], "actual_costs": None if future else -act["costs"],
            "actual_net": None if future else actual_net,
            "planned_to_date": compared if to_date else None,
            "variance": None if future else actual_net - compared, "cumulative_planned": cumulative_plan,
            "cumulative_actual": None if future else cumulative_actual,
        })
    return rows


# --------------------------------------------------------------------------- the portfolio


def _total_sum(expression) -> Coalesce:
    """Correlated sum over a passport's year totals (a handful of rows, by the unique (passport, year) index)."""
    totals = LedgerYearTotal.objects.filter(passport=OuterRef("pk")).order_by().values("passport").annotate(
        total=Sum(expression, output_field=MONEY)).values("total")
    return Coalesce(Subquery(totals, output_field=MONEY), ZERO)


def _twelfths(today: date) -> Case:
    """One plan line's share of ``ledger_math.plan_twelfths`` in SQL (multiplications only: exact everywhere)."""
    current = Value(today.year + 1) - F("business_case__first_year")
    return Case(
        When(Q(year_index=0) | Q(year_index__lt=current), then=F("amount_base") * Value(12)),
        When(year_index=current, then=F("amount_base") * Value(today.month)),
        default=ZERO, output_field=MONEY,
    )


def _plan_twelfths_sum(today: date) -> Subquery:
    """Twelve times a passport's planned net to date (null without a business case); the page divides by 12."""
    lines = PlanLine.objects.filter(business_case__passport=OuterRef("pk")).order_by().values(
        "business_case").annotate(total=Sum(_twelfths(today))).values("total")
    return Subquery(lines, output_field=MONEY)


def portfolio_list(*, user, filters: dict | None = None, ordering: str = "key",
                   today: date | None = None) -> QuerySet[ModelPassport]:
    """Passports whose ledger ``user`` may read, annotated in SQL with ``benefits``, ``costs`` (positive),
    ``net`` and ``plan_twelfths`` (twelve times the plan to date; null without a business case), ordered by
    ``ordering`` (a key of ``PORTFOLIO_ORDERING``, ``-`` for descending, nulls last; ties by key).

    The sums are correlated subqueries over ``LedgerYearTotal`` (kept by every booking), so a request reads
    a few rows per passport, never the entries. ROI, plan variance and payback of a page's rows come from
    :func:`portfolio_page`.

    filters: ``business_unit`` (code), ``tier``, ``q`` (key or name contains).
    """
    filters, today = filters or {}, today or timezone.localdate()
    qs = _portfolio_filter(ledger_passports(user=user), filters).select_related("business_unit").annotate(
        benefits=_total_sum(F("benefits")), costs=_total_sum(-F("costs")), plan_twelfths=_plan_twelfths_sum(today))
    qs = qs.annotate(net=ExpressionWrapper(F("benefits") - F("costs"), output_field=MONEY))
    descending = ordering.startswith("-")
    column = ordering.lstrip("-")
    sort_key = _sort_key(column)
    order = sort_key.desc(nulls_last=True) if descending else sort_key.asc(nulls_last=True)
    return qs.order_by(order, "key")


def _sort_key(column: str):
    if column == "roi":  # a sort key only (floats are fine for ordering); shown values are exact Decimals
        return Cast("net", FloatField()) / NullIf(Cast("costs", FloatField()), Value(0.0))
    if column == "plan_variance":  # twelve times the variance: same order, no division
        return ExpressionWrapper(F("net") * Value(12) - F("plan_twelfths"), output_field=MONEY)
    return F(PORTFOLIO_ORDERING.get(column, "key"))


def _portfolio_filter(qs: QuerySet[ModelPassport], filters: dict) -> QuerySet[ModelPassport]:
    if unit := filters.get("business_unit"):
        qs = qs.filter(business_unit__code=unit)
    if tier := filters.get("tier"):
        qs = qs.filter(risk_tier=tier)
    if q := (filters.get("q") or "").strip():
        qs = qs.filter(Q(key__icontains=q) | Q(name__icontains=q))
    return qs


def portfolio_totals(*, user, filters: dict | None = None, today: date | None = None) -> dict:
    """Benefits, costs, net, ROI and plan variance over every passport the portfolio lists (not only a page):
    one SQL aggregate over their year totals and one over their plan lines. The variance covers the
    passports that have a business case."""
    today = today or timezone.localdate()
    passports = _portfolio_filter(ledger_passports(user=user), filters or {})
    with_case = Q(passport__in=BusinessCase.objects.values("passport_id"))
    net = F("benefits") + F("costs")
    sums = LedgerYearTotal.objects.filter(passport__in=passports.values("pk")).aggregate(
        sum_benefits=Sum("benefits"), sum_costs=Sum("costs"),
        planned_net=Sum(net, filter=with_case, output_field=MONEY))
    plan = PlanLine.objects.filter(business_case__passport__in=passports.values("pk")).aggregate(
        twelfths=Sum(_twelfths(today)))
    benefits, costs = cents(sums["sum_benefits"]) or Decimal(0), -(cents(sums["sum_costs"]) or Decimal(0))
    twelfths, net_total = cents(plan["twelfths"]), benefits - costs
    variance = None
    if twelfths is not None:
        variance = ledger_math.from_twelfths(12 * (cents(sums["planned_net"]) or Decimal(0)) - twelfths)
    return {"passports": passports.count(), "benefits": benefits, "costs": costs, "net": net_total,
            "roi": ledger_math.roi(net_total, costs), "plan_variance": variance}


def portfolio_page(passports: list[ModelPassport]) -> list[ModelPassport]:
    """Complete a page of :func:`portfolio_list` rows with ``roi``, ``plan_variance``, ``payback_years`` and
    ``payback`` (years, months): payback from the page's year totals (one query), the rest from the row's
    exact sums."""
    ids = [p.pk for p in passports]
    first_years = dict(BusinessCase.objects.filter(passport_id__in=ids).values_list("passport_id", "first_year"))
    years: dict[int, list[dict]] = defaultdict(list)
    for row in LedgerYearTotal.objects.filter(passport_id__in=ids).order_by("passport_id", "year").values(
            "passport_id", "year", "benefits", "costs"):
        years[row["passport_id"]].append(row)
    for passport in passports:
        passport.benefits, passport.net = cents(passport.benefits), cents(passport.net)
        passport.costs, passport.plan_twelfths = cents(passport.costs), cents(passport.plan_twelfths)
        rows = years.get(passport.pk)
        first_year = first_years.get(passport.pk) or (rows[0]["year"] if rows else None)
        passport.payback_years = ledger_math.payback_years(_flows(_by_index(rows, first_year))) if rows else None
        passport.payback = ledger_math.years_months(passport.payback_years)
        passport.roi = ledger_math.roi(passport.net, passport.costs)
        passport.plan_variance = (None if passport.plan_twelfths is None else
                                  ledger_math.from_twelfths(12 * passport.net - passport.plan_twelfths))
    return passports


def ledger_totals_mismatches(*, passport_ids: list[int] | None = None) -> list[dict]:
    """(passport, year) pairs whose stored year total differs from the sum of their entries; [] when the
    totals reconcile. Reads every entry: a check, not a page."""
    entries = LedgerEntry.objects.all() if passport_ids is None else LedgerEntry.objects.filter(
        passport_id__in=passport_ids)
    truth = {(r["passport_id"], r["year"]): (cents(r["benefits"]), cents(r["costs"]), r["entries"])
             for r in _year_sums(entries).annotate(entries=Count("pk"))}
    totals = LedgerYearTotal.objects.all() if passport_ids is None else LedgerYearTotal.objects.filter(
        passport_id__in=passport_ids)
    stored = {(t.passport_id, t.year): (cents(t.benefits), cents(t.costs), t.entries) for t in totals}
    return [{"passport_id": key[0], "year": key[1], "entries": truth.get(key), "totals": stored.get(key)}
            for key in sorted(set(truth) | set(stored))
            if truth.get(key, (0, 0, 0)) != stored.get(key, (0, 0, 0))]
