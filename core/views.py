"""Helpers every UI view shares."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_GET


def paginate(request, queryset, per_page: int) -> Page:
    """The requested page (``?page=``) of ``queryset``; out-of-range or junk numbers give the nearest page."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


REDOC_REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


@lru_cache(maxsize=1)
def _redoc_bundle() -> tuple[bytes, str]:
    path = finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
    if path is None:
        raise Http404("Redoc is not installed.")
    body = Path(path).read_bytes().replace(REDOC_REMOTE_LOGO, EMPTY_SVG)
    return body, hashlib.sha256(body).hexdigest()[:16]


@require_GET
def redoc_bundle(request):
    """Redoc's standalone bundle, as the sidecar ships it but for the one image it fetches from Redocly's CDN (the
    attribution logo), replaced by an empty inline SVG: the API docs load nothing from outside this server."""
    body, etag = _redoc_bundle()
    if request.headers.get("If-None-Match") == etag:
        return HttpResponseNotModified()
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = "public, max-age=86400"
    return response
