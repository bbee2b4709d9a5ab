"""Renderers for endpoints that answer a file (PDF, ZIP) while their errors stay JSON in the one error shape."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import BaseRenderer, JSONRenderer

NO_FORMAT = OpenApiParameter("format", exclude=True)


class FileRenderer(BaseRenderer):
    """Lets clients ask for the file's type; the file itself is an HttpResponse (errors stay JSON)."""

    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else JSONRenderer().render(data)


class PdfRenderer(FileRenderer):
    media_type = "application/pdf"
    format = "pdf"


class ZipRenderer(FileRenderer):
    media_type = "application/zip"
    format = "zip"
