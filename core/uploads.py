"""Uploads are refused by their size before their bodies are read, and stored without a second temporary copy.

Django writes a multipart body's files to temporary files as it reads it; a 600 MB artifact over a 500 MB limit
used to land whole (and then be copied again for hashing) before the service said no. This handler, first in
``FILE_UPLOAD_HANDLERS``, refuses a body whose declared ``Content-Length`` exceeds what the endpoint accepts before a
byte of it is read, and counts the bytes of a body without one, stopping at the limit.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext as _

from core.errors import DomainError

MULTIPART_SLACK = 1024 * 1024  # the form's other fields and the multipart framing around the file


class RequestTooLarge(DomainError):
    status_code = 413

    def __init__(self, limit: int, size: int | None = None):
        super().__init__(_("The upload is larger than this endpoint accepts (%(limit)s MiB).")
                         % {"limit": f"{limit / 1024 / 1024:,.0f}"}, code="too_large", field="file",
                         details={"max_bytes": limit, "size": size})


def upload_limit(setting_name: str):
    """Mark a view function or a DRF view class: its uploads may be as large as ``settings.<setting_name>``
    (the room that owns the endpoint says how large; unmarked endpoints take ``MG_MAX_UPLOAD_BYTES``)."""

    def mark(view):
        view.upload_limit_setting = setting_name
        return view

    return mark


def upload_limit_for(request) -> int:
    """The largest body the resolved view takes. The URL is resolved before any middleware reads the body (the
    CSRF check reads a page's form), so this holds for pages and the API alike."""
    view = getattr(getattr(request, "resolver_match", None), "func", None)
    name = getattr(view, "upload_limit_setting", None) or getattr(getattr(view, "cls", None),
                                                                    "upload_limit_setting", None)
    return getattr(settings, name or "MG_MAX_UPLOAD_BYTES") + MULTIPART_SLACK


class SizeLimitUploadHandler(FileUploadHandler):
    """Refuse on the declared length; without one, count and refuse at the limit. Stores nothing itself."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.limit = upload_limit_for(self.request)
        self.received = 0
        if content_length and content_length > self.limit:
            raise RequestTooLarge(self.limit, content_length)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > getattr(self, "limit", settings.MG_MAX_UPLOAD_BYTES):
            raise RequestTooLarge(self.limit, self.received)
        return raw_data  # the next handler (memory or temporary file) keeps it

    def file_complete(self, file_size):
        return None
