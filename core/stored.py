"""Stored files read back whole and checked against the sha256 they were registered with."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import BinaryIO

from django.utils.translation import gettext as _

from core.errors import Conflict


def read_verified(opener: Callable[[], BinaryIO], sha256: str, label: str) -> bytes:
    """The bytes ``opener()`` gives, refused (409 ``digest_mismatch``) when they are not the registered ones: a
    file changed in storage after registration is never validated, explained or served as if it were the same."""
    with opener() as handle:
        data = handle.read()
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise Conflict(_("The stored bytes of %(source)s do not match its registered sha256 (expected "
                         "%(expected)s…, found %(found)s…): the file changed after registration.")
                       % {"source": label, "expected": sha256[:12], "found": found[:12]}, code="digest_mismatch")
    return data
