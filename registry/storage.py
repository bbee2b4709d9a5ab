"""Streaming uploads into the artifact store: chunked copy to a temporary file with sha256 and a size cap."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

from core.errors import DomainError

CHUNK = 1024 * 1024
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_suffix(client_name: str, default: str = ".bin") -> str:
    """The file type of a client's file name as a stored suffix: ``.pdf`` from ``Invoice.PDF``; anything else
    (no suffix, ``.htaccess``-like names, odd characters) gives ``default``. Stored names are built by the server
    from a digest and this suffix; the client's name is kept as data only (:func:`display_name`)."""
    suffix = Path(str(client_name or "")).suffix.lower()
    return suffix if _SUFFIX.match(suffix) and Path(str(client_name)).stem.strip(". ") else default


def display_name(client_name: str, default: str = "file", max_length: int = 200) -> str:
    """The client's file name as data: its last path part, control characters (CR, LF, NUL...) replaced."""
    name = _CONTROL.sub("_", str(client_name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return (name or default)[:max_length]


class TooLarge(DomainError):
    def __init__(self, limit: int):
        super().__init__(
            _("The file is larger than the limit of %(bytes)s bytes (%(mb)s MB).")
            % {"bytes": f"{limit:,}", "mb": f"{limit / 1024 / 1024:.0f}"}, code="too_large",
        )


@dataclass(frozen=True)
class StagedFile:
    path: Path
    sha256: str
    size: int


def _chunks(upload):
    if hasattr(upload, "chunks"):
        yield from upload.chunks(CHUNK)
        return
    while chunk := upload.read(CHUNK):
        yield chunk


@contextmanager
def staged_upload(upload, *, max_bytes: int, suffix: str = ""):
    """Copy ``upload`` chunk by chunk to a temporary file, hashing on the way; removed on exit.

    Raises TooLarge as soon as the limit is passed, so an oversized upload never lands whole on disk.
    """
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:  # Django streamed it to a temporary file already: hash it there, copy nothing
        yield _staged_in_place(Path(temporary()), max_bytes)
        return
    tmp_dir = Path(settings.MEDIA_ROOT) / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=suffix)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(upload):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(max_bytes)
                digest.update(chunk)
                out.write(chunk)
        yield StagedFile(Path(name), digest.hexdigest(), size)
    finally:
        Path(name).unlink(missing_ok=True)


def _staged_in_place(path: Path, max_bytes: int) -> StagedFile:
    size = path.stat().st_size
    if size > max_bytes:
        raise TooLarge(max_bytes)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return StagedFile(path, digest.hexdigest(), size)


def store_staged(staged: StagedFile, storage_name: str) -> tuple[str, bool]:
    """Save a staged file under ``storage_name`` (content-addressed); returns (name, created_now)."""
    if default_storage.exists(storage_name):
        return storage_name, False
    with staged.path.open("rb") as fh:
        saved = default_storage.save(storage_name, File(fh, name=os.path.basename(storage_name)))
    return saved, True


def file_sha256(storage_name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(storage_name, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
