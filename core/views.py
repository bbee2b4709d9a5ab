"""Helpers every UI view shares."""

from __future__ import annotations

from django.core.paginator import Page, Paginator


def paginate(request, queryset, per_page: int) -> Page:
    """The requested page (``?page=``) of ``queryset``; out-of-range or junk numbers give the nearest page."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
