"""Who may see a passport's amounts and who may book on its ledger: the one place the UI and the API ask.

* **Read** (amounts, business case, figures): holders of the role permission ``governance.view_ledgerentry``
  (finance, risk officers, auditors, administrators) for every passport; a passport's business owner for that
  passport; a user granted ``governance.manage_ledger_businessunit`` on a business unit for the passports of
  that unit. Nobody else sees amounts: for them a ledger is a 404, and the portfolio leaves their passports out.
* **Book, reverse, import, set the business case**: the role permission ``governance.add_ledgerentry``
  (finance) *and* the object permission ``governance.manage_ledger_businessunit`` on the business unit
  (a guardian grant per unit; administrators hold it everywhere). A reversal is judged by the business unit
  the reversed entry was booked to.

(guardian refuses object checks across apps, so a passport's ledger is asked as these functions, not as
``has_perm(perm, passport)``.)
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from guardian.shortcuts import get_objects_for_user

from core.errors import PermissionDenied
from governance.accounts.models import BusinessUnit

VIEW_LEDGER = "governance.view_ledgerentry"
BOOK = "governance.add_ledgerentry"
MANAGE_UNIT = "governance.manage_ledger_businessunit"


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def managed_units(user) -> QuerySet:
    """Business units ``user`` was granted ``manage_ledger_businessunit`` on (explicit grants only)."""

    return get_objects_for_user(user, MANAGE_UNIT, klass=BusinessUnit, accept_global_perms=False,
                                with_superuser=False)


def visible_ledger_filter(user) -> Q | None:
    """A Q on passports whose ledger ``user`` may read; None means every passport."""
    if not _active(user):
        return Q(pk__in=[])
    if user.has_perm(VIEW_LEDGER):
        return None
    return Q(business_owner=user) | Q(business_unit__in=managed_units(user).values("pk"))


def can_view_ledger(user, passport) -> bool:
    if not _active(user):
        return False
    if user.has_perm(VIEW_LEDGER) or user.pk == passport.business_owner_id:
        return True
    return user.has_perm(MANAGE_UNIT, passport.business_unit)


def can_book(user, business_unit) -> bool:
    """Finance role plus the grant on ``business_unit`` (administrators: everywhere)."""
    return _active(user) and user.has_perm(BOOK) and user.has_perm(MANAGE_UNIT, business_unit)


def require_book(user, business_unit, action=None) -> None:
    """Raise naming ``action`` (a translated phrase; "book ledger entries" when None) unless ``user`` may book."""
    if not can_book(user, business_unit):
        raise PermissionDenied(_("You may not %(action)s for business unit '%(unit)s'.")
                               % {"action": action or _("book ledger entries"), "unit": business_unit.code})
