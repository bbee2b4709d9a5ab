"""Ledger writes: book and reverse entries, import a batch, book an A/B experiment's result, set a business case.

Entries are never updated or deleted; a correction is a reversing entry. Every booking appends an audit event
in the transaction that writes it. Amounts arrive as positive magnitudes (``Decimal``); the category gives the
sign (benefits positive, costs negative) and ``amount_base`` is converted and rounded once, here
(``governance.ledger.math.to_base``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import ExtractYear
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, SystemActor
from core.errors import Conflict, DomainError, PermissionDenied, validate_model
from governance.audit.services import audit_append
from governance.ledger import math as ledger_math
from governance.ledger.choices import BENEFIT_CATEGORIES, LedgerCategory, LedgerSource
from governance.ledger.models import BusinessCase, LedgerEntry, LedgerYearTotal, PlanLine
from governance.ledger.permissions import can_view_ledger, require_book
from registry.storage import safe_suffix, staged_upload, store_staged

MAX_EVIDENCE_BYTES = 25 * 1024 * 1024
MAX_HORIZON_YEARS = 30


def base_currency() -> str:
    """The organisation's base currency (``MG_BASE_CURRENCY``); its minor unit must fit ``amount_base``."""
    code = str(settings.MG_BASE_CURRENCY).upper()
    try:
        exponent = ledger_math.currency_exponent(code)
    except ValueError as exc:
        raise ImproperlyConfigured(f"MG_BASE_CURRENCY: {exc}") from None
    if exponent > ledger_math.MONEY_PLACES:
        raise ImproperlyConfigured(f"MG_BASE_CURRENCY {code} has {exponent} decimals; at most 2 are supported.")
    return code


def signed(category: str, magnitude: Decimal) -> Decimal:
    """Benefits positive, costs negative."""
    return magnitude if category in BENEFIT_CATEGORIES else -magnitude


# --------------------------------------------------------------------------- checks shared by every way in


def check_money(amount, currency: str, rate, *, field_prefix: str = "") -> tuple[str, Decimal, Decimal]:
    """Validate a positive magnitude in a known currency and its rate to base; returns (currency, amount, rate).

    The rate must be 1 for the base currency and is required (positive) for any other.
    """
    currency = (currency or "").strip().upper()
    try:
        ledger_math.currency_exponent(currency)
    except ValueError as exc:
        raise DomainError(str(exc), code="unknown_currency", field=f"{field_prefix}currency")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise DomainError(_("Enter the amount as a positive number; the category decides whether it is a benefit "
                            "or a cost, and a correction is a reversal."), code="invalid_amount",
                          field=f"{field_prefix}amount")
    if not ledger_math.fits_currency(amount, currency):
        raise DomainError(_("%(currency)s amounts have at most %(places)s decimals.")
                          % {"currency": currency, "places": ledger_math.currency_exponent(currency)},
                          code="invalid_precision", field=f"{field_prefix}amount")
    base = base_currency()
    if currency == base:
        if rate not in (None, Decimal(1)):
            raise DomainError(_("The rate of the base currency %(base)s to itself is 1.") % {"base": base},
                              code="invalid_rate", field=f"{field_prefix}fx_rate_to_base")
        return currency, amount, Decimal(1)
    if rate is None:
        raise DomainError(_("Give the rate from %(currency)s to %(base)s captured at booking.")
                          % {"currency": currency, "base": base}, code="required",
                          field=f"{field_prefix}fx_rate_to_base")
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise DomainError(_("The rate must be a positive number."), code="invalid_rate",
                          field=f"{field_prefix}fx_rate_to_base")
    return currency, amount, rate


def check_period(period: date, *, today: date | None = None, field_name: str = "period") -> date:
    """First day of a month, not after the current month (the ledger records what happened)."""
    today = today or timezone.localdate()
    if period.day != 1:
        raise DomainError(_("A period is a month: give its first day (YYYY-MM-01)."), code="invalid_period",
                          field=field_name)
    if period > today.replace(day=1):
        raise DomainError(_("The period lies in the future; the ledger records actual benefits and costs "
                            "(plan them in the business case)."), code="future_period", field=field_name)
    if period.year < 2000:
        raise DomainError(_("The period is before %(year)s.") % {"year": 2000}, code="invalid_period", field=field_name)
    return period



@dataclass
class EntryDraft:
    """A checked, unsaved booking: what the API, the CSV import and the A/B form hand to ``_book``."""

    entry: LedgerEntry
    audit_data: dict = field(default_factory=dict)
    actor: Actor | None = None  # who books it (``entry.booked_by``, or the platform for metered usage)


def _metered(actor, source: str, category: str) -> bool:
    """The platform booking the inference cost it metered itself: no person's grant is asked, and nothing else may
    be booked that way."""
    return isinstance(actor, SystemActor) and source == LedgerSource.SERVING_USAGE and \
        category == LedgerCategory.INFERENCE


def draft_entry(*, actor: Actor, passport, category: str, amount: Decimal, currency: str, period: date,
                fx_rate_to_base: Decimal | None = None, version=None, booking_date: date | None = None,
                source: str = LedgerSource.MANUAL, description: str = "", evidence_text: str = "",
                evidence_url: str = "", predictions: int | None = None) -> EntryDraft:
    """Check one booking (the grant on the passport's business unit, then the rules); saves nothing.

    Raises PermissionDenied or DomainError (with ``field``) on the first problem.
    """
    if not _metered(actor, source, category):
        require_book(actor, passport.business_unit)
    if category not in LedgerCategory.values:
        raise DomainError(_("Unknown category '%(category)s'.") % {"category": category}, code="invalid",
                          field="category")
    if source not in LedgerSource.values:
        raise DomainError(_("Unknown source '%(source)s'.") % {"source": source}, code="invalid", field="source")
    currency, amount, rate = check_money(amount, currency, fx_rate_to_base)
    check_period(period)
    if booking_date is not None and booking_date > timezone.localdate():
        raise DomainError(_("The booking date lies in the future."), code="invalid", field="booking_date")
    if version is not None and version.passport_id != passport.pk:
        raise DomainError(_("The version belongs to another passport."), code="invalid", field="version")
    if predictions is not None and (category != LedgerCategory.INFERENCE or predictions < 0):
        raise DomainError(_("Served predictions are reported on inference costs, as a count of zero or more."),
                          code="invalid", field="predictions")
    if not (description := (description or "").strip()):
        raise DomainError(_("Describe the entry."), code="required", field="description")
    for name, text in (("description", description), ("evidence_text", evidence_text),
                       ("evidence_url", evidence_url)):
        if "\x00" in (text or ""):  # the API's serializers refuse it too; here it holds for imports and pages
            raise DomainError(_("Null characters are not allowed."), code="invalid", field=name)
    base, value = base_currency(), signed(category, amount)
    entry = LedgerEntry(
        passport=passport, version=version, business_unit=passport.business_unit, period=period,
        booking_date=booking_date or timezone.localdate(), category=category, amount=value, currency=currency,
        fx_rate_to_base=rate, base_currency=base, amount_base=ledger_math.to_base(value, rate, base),
        predictions=predictions, source=source, description=description, evidence_text=(evidence_text or "").strip(),
        evidence_url=(evidence_url or "").strip(), booked_by=None if isinstance(actor, SystemActor) else actor,
    )
    validate_model(entry, exclude=["evidence_file", "reversal_of"])
    return EntryDraft(entry=entry, actor=actor)


def _book(draft: EntryDraft, *, action: str = "ledger.entry_booked") -> LedgerEntry:
    """Insert a checked draft, append its audit event and add it to its year total; the caller holds the
    transaction. The chain head is locked before the year total, in every booking, so a batch that touches many
    year totals cannot deadlock with another booking."""
    entry = draft.entry
    entry.save(force_insert=True)
    data = {
        "category": entry.category, "amount": str(entry.amount), "currency": entry.currency,
        "fx_rate_to_base": str(entry.fx_rate_to_base), "amount_base": str(entry.amount_base),
        "base_currency": entry.base_currency, "period": entry.period.isoformat()[:7], "source": entry.source,
        "version": entry.version.number if entry.version_id else None, "reversal_of": entry.reversal_of_id,
        "predictions": entry.predictions, **draft.audit_data,
    }
    audit_append(actor=draft.actor or entry.booked_by, action=action, obj=entry, passport_key=entry.passport.key,
                 digests={"evidence_sha256": entry.evidence_sha256} if entry.evidence_sha256 else None, data=data)
    _add_to_totals(entry)
    return entry


def _add_to_totals(entry: LedgerEntry) -> None:
    """Add an entry to its passport's year total (created at zero when new), row locked until commit."""
    total, _created = LedgerYearTotal.objects.select_for_update().get_or_create(passport_id=entry.passport_id,
                                                                                year=entry.period.year)
    benefit = entry.category in BENEFIT_CATEGORIES
    inference = entry.category == LedgerCategory.INFERENCE
    LedgerYearTotal.objects.filter(pk=total.pk).update(
        benefits=F("benefits") + (entry.amount_base if benefit else 0),
        costs=F("costs") + (0 if benefit else entry.amount_base),
        inference=F("inference") + (entry.amount_base if inference else 0),
        predictions=F("predictions") + (entry.predictions or 0), entries=F("entries") + 1,
    )


def ledger_totals_rebuild(*, passport_ids: list[int] | None = None) -> int:
    """Recompute the year totals from the entries (after a bulk load, or should a check ever find a
    difference): one grouped query, then the rows replaced in one transaction. Returns the rows written."""
    entries = LedgerEntry.objects.all() if passport_ids is None else LedgerEntry.objects.filter(
        passport_id__in=passport_ids)
    grouped = entries.annotate(year=ExtractYear("period")).values("passport_id", "year").annotate(
        benefits=Sum("amount_base", filter=Q(category__in=BENEFIT_CATEGORIES), default=0),
        costs=Sum("amount_base", filter=~Q(category__in=BENEFIT_CATEGORIES), default=0),
        inference=Sum("amount_base", filter=Q(category=LedgerCategory.INFERENCE), default=0),
        predictions=Sum("predictions", default=0), entries=Count("pk")).order_by()
    rows = [LedgerYearTotal(**row) for row in grouped]
    with transaction.atomic():
        stale = LedgerYearTotal.objects.all()
        if passport_ids is not None:
            stale = stale.filter(passport_id__in=passport_ids)
        stale.delete()
        LedgerYearTotal.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


# --------------------------------------------------------------------------- entries


def ledger_entry_book(*, actor: Actor, passport, category: str, amount: Decimal, currency: str, period: date,
                      fx_rate_to_base: Decimal | None = None, version=None, booking_date: date | None = None,
                      source: str = LedgerSource.MANUAL, description: str = "", evidence_text: str = "",
                      evidence_url: str = "", evidence_file=None, predictions: int | None = None) -> LedgerEntry:
    """Book one entry on ``passport``'s ledger and append ``ledger.entry_booked`` in the same transaction.

    Needs the finance role and the grant on the passport's business unit (PermissionDenied, 403); a bad amount,
    currency, rate, period, version or category is a DomainError (400). An evidence file is stored under its
    sha256 (its digest goes into the audit event) and removed again if the booking fails.
    """
    if source not in (LedgerSource.MANUAL, LedgerSource.SERVING_USAGE):
        raise DomainError(_("A/B results and imports are booked through their own forms, which record how."),
                          code="invalid", field="source")
    draft = draft_entry(actor=actor, passport=passport, category=category, amount=amount, currency=currency,
                        period=period, fx_rate_to_base=fx_rate_to_base, version=version, booking_date=booking_date,
                        source=source, description=description, evidence_text=evidence_text,
                        evidence_url=evidence_url, predictions=predictions)
    if evidence_file is None:
        with transaction.atomic(durable=True):
            return _book(draft)
    suffix = safe_suffix(getattr(evidence_file, "name", ""))
    with staged_upload(evidence_file, max_bytes=MAX_EVIDENCE_BYTES, suffix=suffix) as staged:
        stored, created = store_staged(staged, f"ledger/{passport.key}/{staged.sha256}{suffix}")
    draft.entry.evidence_file.name, draft.entry.evidence_sha256 = stored, staged.sha256
    try:
        with transaction.atomic(durable=True):
            return _book(draft)
    except Exception:
        if created:
            default_storage.delete(stored)
        raise


def ledger_entry_reverse(*, actor: Actor, entry: LedgerEntry, reason: str) -> LedgerEntry:
    """Book the reversal of ``entry``: the exact negation of its amounts (and predictions) in the same period,
    category, currency and rate, pointing at it. Both stay on the ledger and net to zero.

    Needs the grant on the business unit the entry was booked to (403). A reversal cannot be reversed (400) and
    an entry is reversed at most once (409). Appends ``ledger.entry_reversed``.
    """
    require_book(actor, entry.business_unit, _("reverse ledger entries"))
    if not (reason := (reason or "").strip()):
        raise DomainError(_("Give the reason for the reversal."), code="required", field="reason")
    with transaction.atomic(durable=True):
        original = LedgerEntry.objects.select_for_update(no_key=True, of=("self",)).select_related(
            "passport", "version").get(pk=entry.pk)
        if original.reversal_of_id is not None:
            raise DomainError(_("Entry #%(id)s is itself a reversal and cannot be reversed; book a new entry "
                                "instead.") % {"id": original.pk}, code="reversal_of_reversal")
        done = LedgerEntry.objects.filter(reversal_of=original).values_list("pk", flat=True).first()
        if done is not None:
            raise Conflict(_("Entry #%(id)s was already reversed by #%(by)s.") % {"id": original.pk, "by": done},
                           code="already_reversed")
        reversal = LedgerEntry(
            passport=original.passport, version=original.version, business_unit_id=original.business_unit_id,
            period=original.period, booking_date=timezone.localdate(), category=original.category,
            amount=-original.amount, currency=original.currency, fx_rate_to_base=original.fx_rate_to_base,
            base_currency=original.base_currency, amount_base=-original.amount_base,
            predictions=None if original.predictions is None else -original.predictions, source=original.source,
            description=f"Reversal of #{original.pk}: {reason}"[:300], evidence_text=reason,
            reversal_of=original, booked_by=actor,
        )
        validate_model(reversal, exclude=["evidence_file", "reversal_of"])
        return _book(EntryDraft(reversal, {"reason": reason}), action="ledger.entry_reversed")


def metered_usage_book(*, actor: SystemActor, passport, amount: Decimal, currency: str, period: date,
                       predictions: int, description: str, evidence_text: str = "", then=None) -> LedgerEntry:
    """The platform books an inference cost it metered (served predictions and host hours): category inference,
    source serving usage, attributed to ``actor`` (a system actor), through the same checks and audit event as
    any booking. ``then(entry)`` runs in the same transaction, so the caller's record of what it booked commits
    with the entry or not at all."""
    draft = draft_entry(actor=actor, passport=passport, category=LedgerCategory.INFERENCE, amount=amount,
                        currency=currency, period=period, source=LedgerSource.SERVING_USAGE,
                        description=description, evidence_text=evidence_text, predictions=predictions)
    if not _metered(actor, draft.entry.source, draft.entry.category):
        raise PermissionDenied(_("Only the platform books metered usage."))
    with transaction.atomic(durable=True):
        entry = _book(draft)
        if then is not None:
            then(entry)
        return entry


def ledger_entries_book_all(*, actor: Actor, drafts: list[EntryDraft], import_sha256: str = "") -> list[LedgerEntry]:
    """Book checked drafts (a CSV import, an A/B result) in one transaction: all or none, one audit event each."""
    with transaction.atomic(durable=True):
        for draft in drafts:
            if import_sha256:
                draft.audit_data["import_sha256"] = import_sha256
        return [_book(draft) for draft in drafts]


# --------------------------------------------------------------------------- A/B experiment results

MAX_AB_MONTHS = 36


@dataclass(frozen=True)
class AbResult:
    """An experiment's measured uplift per unit (a money amount, or a rate times ``value_per_unit``) with its
    confidence interval, and the volume of units over the months it covers."""

    experiment: str
    uplift: Decimal
    ci_low: Decimal
    ci_high: Decimal
    volume: Decimal
    period_from: date
    period_to: date
    currency: str
    confidence: Decimal = Decimal("0.95")
    value_per_unit: Decimal = Decimal(1)
    category: str = LedgerCategory.REVENUE_UPLIFT
    fx_rate_to_base: Decimal | None = None


def ab_result_calculate(result: AbResult) -> dict:
    """The calculation an A/B result books: benefit = uplift x volume x value per unit (and the same for the
    interval's bounds), split evenly over the months covered without losing a cent. Books nothing."""
    currency, _one, rate = check_money(Decimal(1), result.currency, result.fx_rate_to_base)
    if result.category not in BENEFIT_CATEGORIES:
        raise DomainError(_("An experiment's uplift is booked as a benefit: revenue uplift, cost saving or loss "
                            "avoided."), code="invalid", field="category")
    if not result.ci_low <= result.uplift <= result.ci_high:
        raise DomainError(_("The uplift must lie within its confidence interval."), code="invalid", field="uplift")
    if result.volume <= 0 or result.value_per_unit <= 0 or not 0 < result.confidence < 1:
        raise DomainError(_("Volume and value per unit must be positive and the confidence between 0 and 1."),
                          code="invalid", field="volume")
    check_period(result.period_from, field_name="period_from")
    check_period(result.period_to, field_name="period_to")
    months = ledger_math.months_between(result.period_from, result.period_to)
    if not 1 <= len(months) <= MAX_AB_MONTHS:
        raise DomainError(_("The period runs from one month to %(max)s months, the first not after the last.")
                          % {"max": MAX_AB_MONTHS}, code="invalid_period", field="period_to")
    exponent, base = ledger_math.currency_exponent(currency), base_currency()
    unit = ledger_math.quantum(exponent)

    def money(per_unit: Decimal) -> Decimal:
        return (per_unit * result.volume * result.value_per_unit).quantize(unit, rounding=ROUND_HALF_EVEN)

    benefit, low, high = money(result.uplift), money(result.ci_low), money(result.ci_high)
    parts = ledger_math.split_evenly(benefit, len(months), exponent) if benefit > 0 else []
    rows = [{"period": month, "amount": part, "amount_base": ledger_math.to_base(part, rate, base)}
            for month, part in zip(months, parts, strict=True) if part > 0]
    return {
        "experiment": result.experiment, "category": result.category, "currency": currency, "fx_rate_to_base": rate,
        "base_currency": base, "uplift": result.uplift, "ci_low": result.ci_low, "ci_high": result.ci_high,
        "confidence": result.confidence, "volume": result.volume, "value_per_unit": result.value_per_unit,
        "benefit": benefit, "benefit_low": low, "benefit_high": high, "significant": result.ci_low > 0,
        "entries": rows, "total_base": sum((row["amount_base"] for row in rows), Decimal(0)),
        "formula": f"{result.uplift} x {result.volume} x {result.value_per_unit} = {benefit} {currency}",
        "explanation": _ab_explanation(result, benefit, low, high, currency, months),
    }


def _ab_explanation(result: AbResult, benefit, low, high, currency, months) -> str:
    span = f"{months[0]:%Y-%m}" + (f" to {months[-1]:%Y-%m}" if len(months) > 1 else "")
    return (
        f"A/B experiment '{result.experiment}', {span}: uplift {result.uplift} per unit "
        f"({(result.confidence * 100).normalize()} % CI {result.ci_low} to {result.ci_high}) x volume {result.volume} "
        f"x value per unit {result.value_per_unit} = {benefit} {currency} "
        f"(CI {low} to {high} {currency}); booked as the point estimate"
        + (f", split evenly over {len(months)} months." if len(months) > 1 else ".")
    )


def ab_result_preview(*, actor: Actor, passport, result: AbResult) -> dict:
    """The calculation of :func:`ab_result_book` for anyone who may read the passport's ledger; books nothing."""
    if not can_view_ledger(actor, passport):
        raise PermissionDenied(_("You may not see this passport's ledger."))
    return ab_result_calculate(result)


def ab_result_book(*, actor: Actor, passport, result: AbResult, version=None,
                   evidence_url: str = "") -> list[LedgerEntry]:
    """Book an A/B result as benefit entries (source ``ab_experiment``), one per month covered, with the
    calculation and the interval in each entry's evidence. Refused while the interval includes no effect
    (its lower bound is not above zero): an effect not shown is not booked as a benefit."""
    require_book(actor, passport.business_unit)
    calculation = ab_result_calculate(result)
    if not calculation["significant"]:
        raise DomainError(_("The confidence interval includes no effect (its lower bound is not above zero); "
                            "the result is not booked as a benefit."), code="not_significant", field="ci_low")
    if not calculation["entries"]:
        raise DomainError(_("The benefit rounds to nothing."), code="invalid", field="volume")
    drafts = []
    for row in calculation["entries"]:
        draft = draft_entry(actor=actor, passport=passport, category=result.category, amount=row["amount"],
                            currency=calculation["currency"], period=row["period"],
                            fx_rate_to_base=result.fx_rate_to_base, version=version,
                            source=LedgerSource.AB_EXPERIMENT, description=f"A/B experiment: {result.experiment}",
                            evidence_text=calculation["explanation"], evidence_url=evidence_url)
        draft.audit_data = {"experiment": result.experiment, "benefit": str(calculation["benefit"]),
                            "ci": [str(calculation["benefit_low"]), str(calculation["benefit_high"])]}
        drafts.append(draft)
    return ledger_entries_book_all(actor=actor, drafts=drafts)


# --------------------------------------------------------------------------- business case


@dataclass(frozen=True)
class PlanInput:
    year_index: int
    category: str
    amount: Decimal


def business_case_set(*, actor: Actor, passport, currency: str, discount_rate: Decimal, horizon_years: int,
                      first_year: int, lines: list[PlanInput], fx_rate_to_base: Decimal | None = None,
                      notes: str = "") -> BusinessCase:
    """Create or replace ``passport``'s business case and its plan as a whole (finance of its business unit).

    Appends ``ledger.business_case_set`` with the previous plan and the new one, so every version of the plan
    stays in the audit trail. Lines are positive magnitudes per year (0..horizon) and category, at most one each.
    """
    require_book(actor, passport.business_unit, _("set the business case"))
    _check_case(discount_rate, horizon_years, first_year, lines)
    currency, _one, rate = check_money(Decimal(1), currency, fx_rate_to_base)
    base = base_currency()
    plan = []
    for i, line in enumerate(lines):
        check_money(line.amount, currency, rate, field_prefix=f"lines[{i}].")
        value = signed(line.category, line.amount)
        plan.append(PlanLine(year_index=line.year_index, category=line.category, amount=value,
                             amount_base=ledger_math.to_base(value, rate, base)))
    with transaction.atomic(durable=True):
        case = BusinessCase.objects.select_for_update(no_key=True).filter(passport=passport).first()
        previous = _plan_snapshot(case) if case else None
        case = case or BusinessCase(passport=passport)
        case.currency, case.fx_rate_to_base, case.base_currency = currency, rate, base
        case.discount_rate, case.horizon_years, case.first_year = discount_rate, horizon_years, first_year
        case.notes, case.updated_by, case.updated_at = (notes or "").strip(), actor, timezone.now()
        validate_model(case)
        case.save()
        case.lines.all().delete()
        for line in plan:
            line.business_case = case
            validate_model(line)
        PlanLine.objects.bulk_create(plan)
        audit_append(actor=actor, action="ledger.business_case_set", obj=case, passport_key=passport.key,
                     data={"previous": previous, "plan": _plan_snapshot(case)})
    return case


def _check_case(discount_rate: Decimal, horizon_years: int, first_year: int, lines: list[PlanInput]) -> None:
    if not (discount_rate.is_finite() and 0 <= discount_rate < 1):
        raise DomainError(_("The discount rate is a fraction per year from 0 up to 1 (0.08 is %(example)s).")
                          % {"example": "8 %"}, code="invalid", field="discount_rate")
    if not 1 <= horizon_years <= MAX_HORIZON_YEARS:
        raise DomainError(_("The horizon is 1 to %(max)s years.") % {"max": MAX_HORIZON_YEARS}, code="invalid",
                          field="horizon_years")
    if not 2000 <= first_year <= 2100:
        raise DomainError(_("The first year is a calendar year (2000..2100)."), code="invalid", field="first_year")
    if not lines:
        raise DomainError(_("A business case needs at least one planned amount."), code="required", field="lines")
    seen = set()
    for i, line in enumerate(lines):
        if line.category not in LedgerCategory.values:
            raise DomainError(_("Unknown category '%(category)s'.") % {"category": line.category}, code="invalid",
                              field=f"lines[{i}].category")
        if not 0 <= line.year_index <= horizon_years:
            raise DomainError(_("Plan years run from 0 (the initial investment) to the horizon, %(horizon)s.")
                              % {"horizon": horizon_years}, code="invalid", field=f"lines[{i}].year_index")
        if (line.year_index, line.category) in seen:
            raise DomainError(_("Year %(year)s has two lines of category '%(category)s'.")
                              % {"year": line.year_index, "category": LedgerCategory(line.category).label},
                              code="duplicate", field=f"lines[{i}]")
        seen.add((line.year_index, line.category))


def _plan_snapshot(case: BusinessCase) -> dict:
    return {
        "currency": case.currency, "fx_rate_to_base": str(case.fx_rate_to_base),
        "discount_rate": str(case.discount_rate), "horizon_years": case.horizon_years,
        "first_year": case.first_year, "notes": case.notes,
        "lines": [[line.year_index, line.category, str(line.amount)]
                  for line in case.lines.order_by("year_index", "category")],
    }
