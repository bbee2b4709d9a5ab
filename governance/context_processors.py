"""Template context: the navigation that later capabilities plug into."""

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

NAV_ITEMS = [
    ("passports", _("Passports"), "registry:passport_list", None),
    ("audit", _("Audit log"), "governance:audit_log", "governance.view_auditevent"),
    ("tokens", _("API tokens"), "governance:token_list", None),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for key, label, url_name, perm in NAV_ITEMS:
        if perm and not user.has_perm(perm):
            continue
        try:
            items.append({"key": key, "label": label, "url": reverse(url_name)})
        except NoReverseMatch:
            continue
    return {"nav_items": items}
