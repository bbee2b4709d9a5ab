"""What a background job can be: each room registers its kinds here at start-up (``AppConfig.ready``), so that
this room, below them all, runs their work without importing them.

A kind names three functions:

- ``authorize(actor, params)`` raises a ``core.errors.DomainError`` (usually ``PermissionDenied``) when the person
  may not have it done; asked when the job is started, again when a worker runs it (roles change in between), and
  again before its file is handed out;
- ``run(actor, params, progress)`` does the work in the job's language, calling ``progress(step, percent)`` as it
  goes, and returns a :class:`Outcome`; a ``DomainError`` it raises ends the job failed with its message;
- ``title(params)`` says what the job is about, for lists ("Dossier of CREDIT-1").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

Progress = Callable[[str, int], None]


@dataclass
class Outcome:
    """What a finished job produced: a page to open (``url``, ``label``) and/or a file (``file`` open for reading
    at offset 0, or ``content`` bytes) to be kept for download under ``filename``."""

    url: str = ""
    label: str = ""
    content: bytes | None = None
    file: IO[bytes] | None = None
    filename: str = ""
    content_type: str = "application/octet-stream"
    sha256: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class JobKind:
    name: str
    run: Callable[..., Outcome]
    authorize: Callable[..., None]
    title: Callable[[dict], str]


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> JobKind | None:
    return _KINDS.get(name)
