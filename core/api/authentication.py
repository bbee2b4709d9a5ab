"""The bearer-token header, read one way by every token authentication (people's API tokens, hosts' tokens)."""

from __future__ import annotations

from rest_framework import authentication, exceptions


def bearer_token(request, keywords: tuple[str, ...] = ("Bearer",)) -> str | None:
    """The token of ``Authorization: <keyword> <token>``; None without the header or with another scheme (another
    authentication may take it); AuthenticationFailed when it is malformed."""
    header = authentication.get_authorization_header(request).decode("latin-1")
    if not header:
        return None
    parts = header.split()
    if parts[0] not in keywords:
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
    return parts[1]
