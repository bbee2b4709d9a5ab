"""Audit pages: the log in words with filters, its CSV export, and the chain verification."""

from __future__ import annotations

import datetime as dt
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.spreadsheet import csv_lines
from core.views import paginate
from governance.audit import selectors
from governance.audit.describe import actor_label, describe_events
from governance.audit.forms import AuditFilterForm
from governance.audit.permissions import VIEW_AUDIT
from governance.audit.services import audit_verify

AUDIT_PAGE_SIZE = 50
EXPORT_BATCH = 500


def _filters(request, options: dict | None = None) -> tuple[AuditFilterForm, dict]:
    """The filter form (``options`` fill its action choices; the export needs none) and the valid filters."""
    form = AuditFilterForm(request.GET or None, actions=(options or {}).get("actions", ()))
    filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")} if form.is_valid() else {}
    return form, filters


@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_log(request):
    """Newest first, fifty to a page, each event a sentence with links; bad filters show their error and no rows
    are hidden by them."""
    options = selectors.audit_filter_options(user=request.user)
    form, filters = _filters(request, options)
    page = paginate(request, selectors.audit_event_list(user=request.user, filters=filters), AUDIT_PAGE_SIZE)
    context = {
        "form": form,
        "page": page,
        "rows": describe_events(page.object_list),
        "actors": options["actors"],
        "passports": options["passports"],
        "filtered": bool(filters),
        "export_query": request.GET.urlencode(),
    }
    return render(request, "governance/audit_log.html", context)


EXPORT_HEADER = ("seq", "occurred_at_utc", "actor", "actor_name", "action", "action_label", "summary",
                 "object_type", "object_id", "object", "passport", "data", "digests", "request_id", "prev_hash", "hash")


def _export_rows(events):
    """Oldest first, five hundred events a query (by sequence number, so no cursor stays open between them)."""
    last = 0
    while batch := list(events.filter(seq__gt=last).order_by("seq")[:EXPORT_BATCH]):
        last = batch[-1].seq
        for row in describe_events(batch):
            e = row.event
            yield (e.seq, e.occurred_at.astimezone(dt.UTC).isoformat(timespec="seconds"), e.actor_repr,
                   actor_label(e), e.action, str(row.label), row.text, e.object_type, e.object_id, e.object_repr,
                   e.passport_key, json.dumps(e.data, ensure_ascii=False, sort_keys=True),
                   json.dumps(e.digests, ensure_ascii=False, sort_keys=True), e.request_id, e.prev_hash, e.hash)


@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
@require_GET
def audit_export(request):
    """The filtered events as CSV, oldest first, streamed; the summary column is in the reader's language and
    text cells that a spreadsheet would run as formulas are neutralised. Invalid filters export nothing."""
    form, filters = _filters(request)
    if form.is_bound and not form.is_valid():
        messages.error(request, _("Correct the filters before exporting."))
        return redirect(f"{reverse('governance:audit_log')}?{request.GET.urlencode()}")
    events = selectors.audit_event_list(user=request.user, filters=filters)
    stamp = timezone.now().astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(csv_lines(EXPORT_HEADER, _export_rows(events)),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}-{get_language() or "en"}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
@require_POST
def audit_verify_view(request):
    """Walk the whole chain. HTMX requests get the result fragment; plain posts get a message."""
    result = audit_verify()
    if request.htmx:
        return render(request, "governance/_chain_result.html", {"result": result})
    if result.ok:
        messages.success(request, _("Audit chain intact: %(n)s events checked.") % {"n": result.events_checked})
    else:
        messages.error(
            request,
            _("Audit chain broken at event #%(seq)s: %(reason)s")
            % {"seq": result.first_broken_seq, "reason": result.reason},
        )
    return redirect("governance:audit_log")
