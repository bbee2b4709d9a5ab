"""Validation's guards (core.guards): who may issue a version's report, start its runs and cancel them, now.

The services enforce them; the version page's runs card, the run page and the workflow's list of available
actions ask the same functions.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.guards import ALLOWED, Verdict, person, state
from registry.choices import VALIDATION_STATES, VersionState
from validation import permissions as validation_perms


def issue_report(actor, version) -> Verdict:
    if not actor.has_perm(validation_perms.ASSIGNED, version):
        return person(_("Only a validator assigned to this version may issue its validation report."))
    if version.state not in VALIDATION_STATES:
        return state(version, _("Reports are issued for versions in validation; v%(n)s is %(state)s."))
    return ALLOWED


def start_run(actor, version) -> Verdict:
    if not actor.has_perm(validation_perms.ASSIGNED, version):
        return person(_("Only a validator assigned to this version may start its validation runs."))
    if version.state != VersionState.IN_VALIDATION:
        return state(version, _("Validation runs are started on versions in validation; v%(n)s is %(state)s."))
    return ALLOWED


def cancel_run(actor, run) -> Verdict:
    if not actor.has_perm(validation_perms.ASSIGNED, run.version):
        return person(_("Only a validator assigned to this version may cancel its validation runs."))
    return ALLOWED
