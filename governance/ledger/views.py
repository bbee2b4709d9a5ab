"""Finance pages: one passport's ledger (figures, charts, entries, booking and reversing) and the portfolio of
every model whose amounts the user may read.

Reads come from ``governance.ledger.selectors`` (a ledger the user may not read is a 404, like a missing one; the
portfolio aggregates in the database). Writes are ``governance.ledger.services`` calls, which decide who may book
(the finance role and the grant on the business unit) and what is refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import PurePosixPath
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Sum
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.csp import inline_styles
from core.errors import DomainError
from core.forms import apply_domain_error
from core.views import paginate
from governance.ledger import io as ledger_io
from governance.ledger import selectors, services
from governance.ledger.choices import BENEFIT_CATEGORIES, LedgerCategory
from governance.ledger.forms import (
    AbResultForm,
    BusinessCaseForm,
    EntryBookForm,
    ImportForm,
    PortfolioFilterForm,
    ReverseForm,
)
from governance.ledger.models import LedgerEntry
from governance.ledger.permissions import BOOK, can_book

ENTRIES_PER_PAGE = 25
PORTFOLIO_PER_PAGE = 25
CHART_MODELS = 8










# --------------------------------------------------------------------------- charts


def _layout(y: str = "", **extra) -> dict:
    return {"margin": {"l": 70, "r": 20, "t": 40, "b": 50}, "paper_bgcolor": "#fff", "plot_bgcolor": "#fff",
            "yaxis": {"title": {"text": y}, "gridcolor": "#e9ecef", "separatethousands": True},
            "xaxis": {"gridcolor": "#e9ecef", "automargin": True},
            "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
            "separators": _(".,"), **extra}


def cumulative_chart(passport, figures: dict) -> dict:
    """Cumulative net P&L by month from the entries (one grouped query), with the plan's cumulative net by year."""
    months = (LedgerEntry.objects.filter(passport=passport).values("period").order_by("period")
              .annotate(net=Sum("amount_base")))
    xs, ys, running = [], [], Decimal(0)
    for row in months:
        running += row["net"]
        xs.append(row["period"].isoformat())
        ys.append(float(running))
    data = [{"type": "scatter", "mode": "lines+markers", "x": xs, "y": ys, "name": _("Actual, cumulative"),
             "line": {"color": "#0d6efd", "width": 2, "shape": "hv"}}]
    plan_rows = [r for r in figures["years"] if r["calendar_year"]]
    if figures.get("plan") and plan_rows:
        data.append({"type": "scatter", "mode": "lines+markers", "name": _("Plan, cumulative (end of year)"),
                     "x": [date(r["calendar_year"], 12, 31).isoformat() for r in plan_rows],
                     "y": [float(r["cumulative_planned"]) for r in plan_rows],
                     "line": {"color": "#adb5bd", "dash": "dash"}})
    return {"data": data, "layout": _layout(figures.get("base_currency") or "", showlegend=True)}


def waterfall_chart(passport) -> dict:
    """Benefits up, costs down, net at the end: one bar per category that has entries."""
    sums = dict(LedgerEntry.objects.filter(passport=passport).values("category").order_by("category")
                .annotate(total=Sum("amount_base")).values_list("category", "total"))
    order = [c for c in LedgerCategory.values if c in BENEFIT_CATEGORIES] + [
        c for c in LedgerCategory.values if c not in BENEFIT_CATEGORIES]
    cats = [c for c in order if sums.get(c)]
    return {"data": [{
        "type": "waterfall", "orientation": "v", "measure": ["relative"] * len(cats) + ["total"],
        "x": [str(LedgerCategory(c).label) for c in cats] + [_("Net P&L")],
        "y": [float(sums[c]) for c in cats] + [0],
        "increasing": {"marker": {"color": "#198754"}}, "decreasing": {"marker": {"color": "#dc3545"}},
        "totals": {"marker": {"color": "#0d6efd"}}, "connector": {"line": {"color": "#ced4da"}},
    }], "layout": _layout(showlegend=False, xaxis={"gridcolor": "#e9ecef", "automargin": True})}


def portfolio_charts(rows: list) -> dict:
    """Cumulative net P&L per model by month (the page's largest models; one grouped query) and plan vs actual to
    date."""
    top = sorted(rows, key=lambda p: abs(p.net or 0), reverse=True)[:CHART_MODELS]
    months: dict[int, list] = {}
    for row in LedgerEntry.objects.filter(passport_id__in=[p.pk for p in top]).values("passport_id", "period") \
            .order_by("passport_id", "period").annotate(net=Sum("amount_base")):
        months.setdefault(row["passport_id"], []).append(row)
    lines = []
    for passport in top:
        running, xs, ys = Decimal(0), [], []
        for row in months.get(passport.pk, []):
            running += row["net"]
            xs.append(row["period"].isoformat())
            ys.append(float(running))
        lines.append({"type": "scatter", "mode": "lines", "name": passport.key, "x": xs, "y": ys,
                      "line": {"shape": "hv"}})
    planned = [p for p in top if p.plan_twelfths is not None]
    plan_vs_actual = {"data": [
        {"type": "bar", "name": _("Plan to date"), "x": [p.key for p in planned],
         "y": [float(p.plan_twelfths / 12) for p in planned], "marker": {"color": "#adb5bd"}},
        {"type": "bar", "name": _("Actual net P&L"), "x": [p.key for p in planned],
         "y": [float(p.net) for p in planned], "marker": {"color": "#0d6efd"}},
    ], "layout": _layout(barmode="group", showlegend=True)}
    return {"cumulative": {"data": lines, "layout": _layout(showlegend=True, xaxis={"type": "date"})},
            "plan_vs_actual": plan_vs_actual if planned else None}


# --------------------------------------------------------------------------- pages


def _ledger_context(request, passport, *, book_form=None, reverse_form=None, reverse_pk=None,
                    error: str | None = None) -> dict:
    figures = selectors.ledger_figures(passport=passport)
    entries = selectors.entry_list(user=request.user, passport=passport)
    may_book = can_book(request.user, passport.business_unit)
    if may_book and book_form is None:
        book_form = EntryBookForm(prefix="book", initial={"currency": services.base_currency(),
                                                          "period": date.today().strftime("%Y-%m")})
    return {
        "passport": passport, "figures": figures, "page": paginate(request, entries, ENTRIES_PER_PAGE),
        "may_book": may_book, "book_form": book_form if may_book else None,
        "reverse_form": reverse_form or ReverseForm(prefix="reverse"), "reverse_pk": reverse_pk, "error": error,
        "base_currency": figures.get("base_currency") or services.base_currency(),
        "cumulative_chart": cumulative_chart(passport, figures) if figures["first_year"] else None,
        "waterfall_chart": waterfall_chart(passport) if figures["first_year"] else None,
        "export_csv": reverse("governance-api:ledger-export", args=[passport.key]) + "?file_format=csv",
        "export_xlsx": reverse("governance-api:ledger-export", args=[passport.key]) + "?file_format=xlsx",
    }


@inline_styles  # Plotly injects <style> elements
@login_required
@require_GET
def passport_ledger(request, key: str):
    passport = selectors.ledger_passport_get(user=request.user, key=key)
    opened = request.GET.get("reverse", "")  # the reversal form of this entry open (links work without scripts)
    context = _ledger_context(request, passport, reverse_pk=int(opened) if opened.isdigit() else None)
    return render(request, "governance/ledger_pages/ledger.html", context)


@inline_styles  # Plotly injects <style> elements
@login_required
@require_POST
def ledger_book(request, key: str):
    passport = selectors.ledger_passport_get(user=request.user, key=key)
    form = EntryBookForm(request.POST, request.FILES, prefix="book")
    if form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.ledger_entry_book(
                actor=request.user, passport=passport, category=data["category"], amount=data["amount"],
                currency=data["currency"], period=data["period"], fx_rate_to_base=data.get("fx_rate_to_base"),
                description=data["description"], evidence_text=data.get("evidence_text") or "",
                evidence_url=data.get("evidence_url") or "", evidence_file=data.get("evidence_file"))
        except DomainError as exc:
            apply_domain_error(form, exc)
            error = exc.message
        else:
            messages.success(request, _("Entry #%(n)s booked.") % {"n": entry.pk})
            return redirect("governance:passport_ledger", key=passport.key)
    else:
        error = _("The entry was not booked: correct the fields below.")
    context = _ledger_context(request, passport, book_form=form, error=error)
    return render(request, "governance/ledger_pages/ledger.html", context, status=400)


@inline_styles  # Plotly injects <style> elements
@login_required
@require_POST
def ledger_reverse(request, key: str, pk: int):
    passport = selectors.ledger_passport_get(user=request.user, key=key)
    entry = selectors.entry_get(user=request.user, pk=pk, passport=passport)
    form = ReverseForm(request.POST, prefix="reverse")
    if form.is_valid():
        try:
            reversal = services.ledger_entry_reverse(actor=request.user, entry=entry,
                                                     reason=form.cleaned_data["reason"])
        except DomainError as exc:
            apply_domain_error(form, exc, default_field="reason")
        else:
            messages.success(request, _("Entry #%(n)s reversed by entry #%(m)s.") % {"n": entry.pk, "m": reversal.pk})
            return redirect("governance:passport_ledger", key=passport.key)
    context = _ledger_context(request, passport, reverse_form=form, reverse_pk=entry.pk)
    return render(request, "governance/ledger_pages/ledger.html", context, status=400)


@login_required
@require_GET
def ledger_evidence(request, key: str, pk: int):
    """An entry's evidence file, to those who read the ledger; always a download, never rendered inline."""
    passport = selectors.ledger_passport_get(user=request.user, key=key)
    entry = selectors.entry_get(user=request.user, pk=pk, passport=passport)
    if not entry.evidence_file:
        raise Http404("No evidence file.")
    try:
        handle = entry.evidence_file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The evidence file is missing from storage.") from exc
    suffix = PurePosixPath(entry.evidence_file.name).suffix or ".bin"
    return FileResponse(handle, as_attachment=True, filename=f"{passport.key}-entry-{entry.pk}-evidence{suffix}",
                        content_type="application/octet-stream")


@inline_styles  # Plotly injects <style> elements
@login_required
@require_GET
def finance_portfolio(request):
    form = PortfolioFilterForm(request.GET or None, initial={"sort": "net", "descending": True})
    filters, ordering = form.filters(), form.ordering()
    rows = selectors.portfolio_list(user=request.user, filters=filters, ordering=ordering)
    page = paginate(request, rows, PORTFOLIO_PER_PAGE)
    page.object_list = selectors.portfolio_page(list(page.object_list))
    export = reverse("governance-api:ledger-portfolio-export")
    export_query = {**filters, "ordering": ordering}

    return render(request, "governance/ledger_pages/portfolio.html", {
        "form": form, "page": page, "totals": selectors.portfolio_totals(user=request.user, filters=filters),
        "charts": portfolio_charts(page.object_list), "ordering": ordering,
        "base_currency": services.base_currency(),
        "export_csv": f"{export}?{urlencode({**export_query, 'file_format': 'csv'})}",
        "export_xlsx": f"{export}?{urlencode({**export_query, 'file_format': 'xlsx'})}",
    })


# --------------------------------------------------------------------------- A/B results and imports




@login_required
def ledger_ab(request, key: str):
    """An A/B result: "Preview" shows the calculation and books nothing; "Book" books it (finance users)."""
    passport = selectors.ledger_passport_get(user=request.user, key=key)
    form = AbResultForm(request.POST or None, prefix="ab", initial={"currency": services.base_currency()})
    calculation, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            try:
                if request.POST.get("action") == "book":
                    entries = services.ab_result_book(actor=request.user, passport=passport, result=form.result(),
                                                      evidence_url=form.cleaned_data.get("evidence_url") or "")
                    messages.success(request, _("%(n)s benefit entries booked from the experiment.")
                                     % {"n": len(entries)})
                    return redirect("governance:passport_ledger", key=passport.key)
                calculation = services.ab_result_preview(actor=request.user, passport=passport,
                                                         result=form.result())
            except DomainError as exc:
                apply_domain_error(form, exc)
        if form.errors:
            status = 400
    return render(request, "governance/ledger_pages/ab.html", {
        "passport": passport, "form": form, "calculation": calculation,
        "may_book": can_book(request.user, passport.business_unit)}, status=status)




IMPORT_FOLDER = "ledger-imports"


@login_required
def ledger_import(request):
    """Upload a CSV: a dry run lists every bad row and books nothing; a clean file is kept under its sha256 and
    "Book all" books exactly that file (the confirmation names its digest)."""


    if not request.user.has_perm(BOOK):
        raise PermissionDenied
    form, result, status = ImportForm(), None, 200
    if request.method == "POST" and request.POST.get("sha256"):
        sha = request.POST["sha256"]
        name = f"{IMPORT_FOLDER}/{request.user.pk}-{sha}.csv"
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha) or not default_storage.exists(name):
            messages.error(request, _("That preview has expired; upload the file again."))
            return redirect("governance:ledger_import")
        with default_storage.open(name, "rb") as handle:
            upload = ContentFile(handle.read(), name="import.csv")
        try:
            result = ledger_io.import_entries(actor=request.user, upload=upload, dry_run=False)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("governance:ledger_import")
        if result.ok:
            default_storage.delete(name)
            messages.success(request, _("%(n)s entries booked from the file %(sha)s.")
                             % {"n": len(result.booked), "sha": sha[:12]})
            return redirect("governance:finance_portfolio")
        status = 400
    elif request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                result = ledger_io.import_entries(actor=request.user, upload=form.cleaned_data["file"])
            except DomainError as exc:
                apply_domain_error(form, exc, default_field="file")
            else:
                if result.ok:
                    form.cleaned_data["file"].seek(0)
                    name = f"{IMPORT_FOLDER}/{request.user.pk}-{result.sha256}.csv"
                    if not default_storage.exists(name):
                        default_storage.save(name, ContentFile(form.cleaned_data["file"].read()))
        status = 400 if form.errors or (result and not result.ok) else 200
    return render(request, "governance/ledger_pages/import.html", {
        "form": form, "result": result, "columns": ledger_io.IMPORT_COLUMNS,
        "required": ledger_io.REQUIRED_COLUMNS}, status=status)


# --------------------------------------------------------------------------- business case




@login_required
def business_case(request, key: str):
    """The passport's business case: shown to whoever reads the ledger, replaced as a whole by finance users."""
    passport = selectors.ledger_passport_get(user=request.user, key=key)
    case = selectors.business_case_get(passport=passport)
    may_book = can_book(request.user, passport.business_unit)
    form = BusinessCaseForm(request.POST or None, initial=BusinessCaseForm.initial_for(case), prefix="case")
    status = 200
    if request.method == "POST":
        if not may_book:
            raise PermissionDenied
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.business_case_set(
                    actor=request.user, passport=passport, currency=d["currency"], discount_rate=d["discount_rate"],
                    horizon_years=d["horizon_years"], first_year=d["first_year"], lines=d["lines"],
                    fx_rate_to_base=d.get("fx_rate_to_base"), notes=d.get("notes") or "")
            except DomainError as exc:
                field = exc.field if exc.field in form.fields else ("lines" if (exc.field or "").startswith("lines")
                                                                    else None)
                form.add_error(field, exc.message)
            else:
                messages.success(request, _("Business case saved; the plan vs actual figures use it now."))
                return redirect("governance:passport_ledger", key=passport.key)
        status = 400
    return render(request, "governance/ledger_pages/business_case.html", {
        "passport": passport, "case": case, "form": form, "may_book": may_book}, status=status)
