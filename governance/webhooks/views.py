"""Webhook pages: subscribers with their delivery health (administrators add, pause, test and rotate; auditors
read) and each subscriber's delivery log with every attempt and a redeliver button."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import apply_domain_error
from core.views import paginate
from governance.webhooks import events, permissions, selectors, services
from governance.webhooks.forms import SubscriberForm
from governance.webhooks.models import DeliveryStatus


def _require_view(user) -> None:
    if not permissions.can_view(user):
        raise PermissionDenied


def _subscriber_or_404(user, pk: int):
    subscriber = selectors.subscriber_list(user=user).filter(pk=pk).first()
    if subscriber is None:
        raise Http404
    return subscriber


@never_cache
@login_required
def webhook_list(request):
    _require_view(request.user)
    can_manage = bool(permissions.manage(request.user))
    form = SubscriberForm(request.POST or None) if can_manage else None
    created = None
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            try:
                created = services.subscriber_create(actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                form = SubscriberForm()
    return render(request, "governance/webhooks/list.html", {
        "subscribers": selectors.subscriber_list(user=request.user), "form": form, "created": created,
        "can_manage": can_manage,
    })


@never_cache
@login_required
def webhook_detail(request, pk: int):
    _require_view(request.user)
    subscriber = _subscriber_or_404(request.user, pk)
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    deliveries = selectors.delivery_list(user=request.user, subscriber=subscriber, status=status
                                         ).prefetch_related("attempt_log")
    return render(request, "governance/webhooks/detail.html", {
        "subscriber": subscriber, "page": paginate(request, deliveries, 25), "status": status,
        "statuses": DeliveryStatus.choices, "can_manage": bool(permissions.manage(request.user)),
        "event_labels": [dict(events.family_choices()).get(e, e) for e in subscriber.events],
        "secret": request.session.pop(f"webhook-secret-{pk}", None),
    })


def _act(request, pk: int, run, success: str):
    _require_view(request.user)
    subscriber = _subscriber_or_404(request.user, pk)
    try:
        run(subscriber)
        messages.success(request, success)
    except DomainError as exc:
        if exc.status_code == 403:
            raise PermissionDenied from exc
        messages.error(request, exc.message)
    return redirect("governance:webhook_detail", pk=pk)


@login_required
@require_POST
def webhook_toggle(request, pk: int):
    active = request.POST.get("active") == "1"
    return _act(request, pk, lambda s: services.subscriber_update(actor=request.user, subscriber=s, active=active),
                _("Subscriber resumed.") if active else _("Subscriber paused: nothing is sent until it resumes."))


@login_required
@require_POST
def webhook_test(request, pk: int):
    return _act(request, pk, lambda s: services.subscriber_test(actor=request.user, subscriber=s),
                _("A test message is on its way; its delivery shows below."))


@login_required
@require_POST
def webhook_rotate(request, pk: int):
    def run(subscriber):
        rotated = services.subscriber_rotate_secret(actor=request.user, subscriber=subscriber)
        request.session[f"webhook-secret-{pk}"] = rotated.secret

    return _act(request, pk, run, _("New secret made; the previous one keeps signing for 24 hours."))


@login_required
@require_POST
def webhook_redeliver(request, pk: int, delivery: int):
    def run(subscriber):
        target = selectors.delivery_list(user=request.user, subscriber=subscriber).filter(pk=delivery).first()
        if target is None:
            raise Http404
        done = services.delivery_redeliver(actor=request.user, delivery=target)
        if done.status != DeliveryStatus.SUCCEEDED:
            raise DomainError(_("Redelivered; the receiver did not accept it: %(error)s")
                              % {"error": done.last_error or done.last_status_code})

    return _act(request, pk, run, _("Redelivered: the receiver accepted it."))
