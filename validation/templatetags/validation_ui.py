"""Badges of validation runs: run state, a test's status, a run's outcome (Bootstrap 5.3 subtle colours)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from validation.choices import CheckStatus, Outcome, Rating, RunState

register = template.Library()

RUN_STATE_CSS = {
    RunState.QUEUED: "bg-secondary-subtle text-secondary-emphasis border-secondary-subtle",
    RunState.RUNNING: "bg-primary-subtle text-primary-emphasis border-primary-subtle",
    RunState.SUCCEEDED: "bg-success-subtle text-success-emphasis border-success-subtle",
    RunState.FAILED: "bg-danger-subtle text-danger-emphasis border-danger-subtle",
    RunState.CANCELLED: "bg-light text-secondary border-secondary-subtle",
}
STATUS_CSS = {
    CheckStatus.PASSED: "bg-success-subtle text-success-emphasis border-success-subtle",
    CheckStatus.FAILED: "bg-danger-subtle text-danger-emphasis border-danger-subtle",
    CheckStatus.ERROR: "bg-danger text-white border-danger",
    CheckStatus.INFO: "bg-info-subtle text-info-emphasis border-info-subtle",
    CheckStatus.SKIPPED: "bg-light text-secondary border-secondary-subtle",
}


def _badge(css: str, value: str, label: str, kind: str):
    return format_html('<span class="badge border {} {}-badge" data-{}="{}">{}</span>', css, kind, kind, value, label)


@register.simple_tag
def run_state_badge(state):
    if state not in RunState.values:
        return ""
    return _badge(RUN_STATE_CSS[state], state, RunState(state).label, "run-state")


@register.simple_tag
def check_badge(status):
    if status not in CheckStatus.values:
        return format_html('<span class="text-secondary">—</span>')
    return _badge(STATUS_CSS[status], status, CheckStatus(status).label, "check")


@register.simple_tag
def outcome_badge(outcome):
    if outcome not in Outcome.values:
        return format_html('<span class="text-secondary">—</span>')
    css = STATUS_CSS[CheckStatus.PASSED if outcome == Outcome.PASSED else CheckStatus.FAILED]
    return _badge(css, outcome, Outcome(outcome).label, "outcome")


RATING_CSS = {
    Rating.FIT: STATUS_CSS[CheckStatus.PASSED],
    Rating.FIT_WITH_CONDITIONS: "bg-warning-subtle text-warning-emphasis border-warning-subtle",
    Rating.NOT_FIT: STATUS_CSS[CheckStatus.FAILED],
}


@register.simple_tag
def rating_badge(rating):
    """The validator's rating of a report; "not rated" for reports issued before ratings existed."""
    if rating not in Rating.values:
        return format_html('<span class="badge border bg-light text-secondary rating-badge" data-rating="">{}</span>',
                           _("Not rated"))
    return _badge(RATING_CSS[rating], rating, Rating(rating).label, "rating")


@register.filter
def rating_label(rating) -> str:
    """The rating's words (for documents without badges, such as the dossier)."""
    return str(Rating(rating).label) if rating in Rating.values else _("Not rated")
