"""Governance UI: home, the audit log with chain verification, and the user's API tokens.

Views are thin: reads through ``governance.selectors``, writes through ``governance.services``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import apply_domain_error
from core.views import paginate
from governance import selectors
from governance.forms import AuditFilterForm, TokenCreateForm
from governance.services.audit import audit_verify
from governance.services.tokens import token_create, token_revoke

VIEW_AUDIT = "governance.view_auditevent"
AUDIT_PAGE_SIZE = 50




@login_required
def home(request):
    return redirect("registry:passport_list")


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


@never_cache
@login_required
def token_list(request):
    """List the user's tokens and create one; a new token's secret is shown in this response only."""
    form = TokenCreateForm(request.POST or None)
    created, secret = None, None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = token_create(
                user=request.user, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                ttl_days=form.cleaned_data["ttl_days"],
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            form = TokenCreateForm()
    context = {
        "form": form,
        "tokens": selectors.token_list(user=request.user),
        "created": created,
        "secret": secret,
    }
    return render(request, "governance/token_list.html", context)


@login_required
@require_POST
def token_revoke_view(request, pk: int):
    token = get_object_or_404(selectors.token_list(user=request.user), pk=pk)
    try:
        token_revoke(token=token, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("governance:token_list")
