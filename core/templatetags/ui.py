"""Template helpers shared by every page: sortable headers, short digests, JSON display, navigation."""

from __future__ import annotations

import json

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def short_hash(value, length: int = 12) -> str:
    """The first ``length`` characters of a digest; put the whole one in a title attribute."""
    return str(value or "")[: int(length)]


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def startswith(value, prefix) -> bool:
    return str(value).startswith(str(prefix))


@register.simple_tag(takes_context=True)
def sort_header(context, key: str, label: str):
    """A ``<th>`` linking to ``?sort=key`` (or ``-key`` when already ascending), keeping the filters."""
    request = context["request"]
    current = context.get("sort") or ""
    query = request.GET.copy()
    query.pop("page", None)
    query["sort"] = f"-{key}" if current == key else key
    if current == key:
        arrow, state = "▲", "ascending"
    elif current == f"-{key}":
        arrow, state = "▼", "descending"
    else:
        arrow, state = "", "none"
    return format_html(
        '<th scope="col" aria-sort="{}"><a class="sort-link" href="?{}" title="{}">{}'
        '<span class="sort-arrow" aria-hidden="true">{}</span></a></th>',
        state, query.urlencode(), _("Sort"), label, arrow,
    )


@register.filter
def elided_range(page):
    """Page numbers around the current page, with ellipses (Paginator.get_elided_page_range)."""
    return page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)


@register.filter
def action_family(action) -> str:
    """``version`` for ``version.registered``: the object family, used to colour audit actions."""
    return str(action).split(".", 1)[0].lower()


FOLD_CHARS = 600
FOLD_LINES = 8


def _fold_at(text: str) -> int:
    """Where a long text folds: after FOLD_LINES lines or FOLD_CHARS characters, at the last space before."""
    cut = min(len(text), FOLD_CHARS)
    newlines = [i for i, ch in enumerate(text[:cut]) if ch == "\n"]
    if len(newlines) >= FOLD_LINES:
        return newlines[FOLD_LINES - 1]
    space = text.rfind(" ", FOLD_CHARS // 2, cut)
    return space if space > 0 else cut


@register.filter
def folded(value) -> str:
    """Text with its line breaks, a long one folded after about eight lines behind "Show more" (the rest is not
    laid out until asked for, so a very long field keeps the page fast); "—" when blank. Always escaped."""
    from django.template.defaultfilters import linebreaksbr

    text = str(value or "")
    if not text.strip():
        return "—"
    if len(text) <= FOLD_CHARS and text.count("\n") < FOLD_LINES:
        return linebreaksbr(text, autoescape=True)
    cut = _fold_at(text)
    head, tail = text[:cut], text[cut:]
    return format_html(
        '<span class="folded">{}<details class="fold-more"><summary><span class="fold-open">{}</span>'
        '<span class="fold-close">{}</span></summary><span class="fold-tail">{}</span></details></span>',
        linebreaksbr(head, autoescape=True),
        _("Show more (%(n)s characters)") % {"n": f"{len(tail):,}".replace(",", "\u202f")}, _("Show less"),
        linebreaksbr(tail, autoescape=True))
