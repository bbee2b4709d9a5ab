"""Account reads: the tokens a user may list."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.accounts.models import ApiToken


def token_list(*, user) -> QuerySet[ApiToken]:
    """A user's own tokens; administrators see everyone's."""
    qs = ApiToken.objects.select_related("user")
    return qs if user.is_superuser else qs.filter(user=user)
