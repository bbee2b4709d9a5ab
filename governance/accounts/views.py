"""Account pages: the user's API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import apply_domain_error
from governance.accounts import selectors
from governance.accounts.forms import TokenCreateForm
from governance.accounts.services import token_create, token_revoke


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
