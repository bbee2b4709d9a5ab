"""Request parsers for the API: DRF's, with the one way a JSON body could still end in a 500 closed."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MultiPartParser = parsers.MultiPartParser


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a body nested deeper than the decoder follows (``[[[[...``) is a 400 ``parse_error``
    like any other malformed body: the standard library gives up on it with RecursionError, which DRF lets through
    as a server error."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON parse error - the body is nested too deeply.")) from None
