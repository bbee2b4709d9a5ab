"""SQLite behaves like the production database where users notice: case-insensitive search in any alphabet.

SQLite's built-in ``LIKE`` folds case for ASCII letters only, so a search for ``ёлка`` never finds ``Ёлка``;
PostgreSQL's ``UPPER(...) LIKE UPPER(...)`` (Django's ``icontains``) folds every alphabet. Each new SQLite
connection gets a ``LIKE`` that compares Unicode case-folded text, with the same ``%``, ``_`` and escape rules.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def _pattern(pattern: str, escape: str | None) -> re.Pattern:
    parts, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if escape and char == escape and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(parts).casefold(), re.DOTALL)


def like(pattern, value, escape=None):
    """SQL ``value LIKE pattern [ESCAPE escape]`` (SQLite calls the function with the pattern first)."""
    if pattern is None or value is None:
        return None
    return int(_pattern(str(pattern), escape).fullmatch(str(value).casefold()) is not None)


def install_unicode_like(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: replace ``LIKE`` on SQLite connections."""
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_function("like", 2, like, deterministic=True)
    raw.create_function("like", 3, like, deterministic=True)
