"""Audit pages: the log with filters and the chain verification."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.views import paginate
from governance.audit import selectors
from governance.audit.forms import AuditFilterForm
from governance.audit.permissions import VIEW_AUDIT
from governance.audit.services import audit_verify

AUDIT_PAGE_SIZE = 50


@login_required
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.audit_event_list(user=request.user, filters=filters)
    actions = (
        selectors.audit_event_list(user=request.user).order_by().values_list("action", flat=True).distinct()[:200]
    )
    context = {
        "form": form,
        "page": paginate(request, events, AUDIT_PAGE_SIZE),
        "known_actions": sorted(actions),
        "filtered": any(filters.values()),
    }
    return render(request, "governance/audit_log.html", context)


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
