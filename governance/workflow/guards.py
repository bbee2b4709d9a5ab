"""One guard per workflow verb: may this actor do this to this version now, and if not, why.

The services enforce the guard (under the version's row lock) and raise its reason; the version page shows or
hides each button by the same guard; the API's ``available_actions`` and the navigation badge read them too. The
states come from the one lifecycle map (``registry.choices``); who may act comes from permissions and relation
rules (``user.has_perm``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

from core.actors import SystemActor
from core.guards import ALLOWED, Verdict, person, state
from governance.workflow.permissions import ACCEPT, ANSWER, ASSIGN, RAISE, REVOKE, can
from registry import permissions as registry_perms
from registry.choices import (
    ASSIGNABLE_STATES,
    FINDING_STATES,
    REVIEW_STATES,
    VERSION_TRANSITIONS,
    VersionState,
)
from validation import permissions as validation_perms
from validation.gaps import report_gaps
from validation.guards import issue_report
from validation.selectors import report_in_force


def transition_allowed(version, to: str) -> Verdict:
    """The lifecycle map's answer to moving ``version`` to ``to``."""
    if to in VERSION_TRANSITIONS[version.state]:
        return ALLOWED
    return Verdict(False, _("v%(n)s is %(state)s; it cannot become %(to)s.") % {
        "n": version.number, "state": version.get_state_display().lower(),
        "to": str(VersionState(to).label).lower()}, "illegal_transition", state=True,
        details={"from": version.state, "to": to})


def submit(actor, version) -> Verdict:
    if not actor.has_perm(registry_perms.UPLOAD, version.passport):
        return person(_("You may not %(action)s for passport '%(key)s'.")
                      % {"action": _("submit versions"), "key": version.passport.key})
    return transition_allowed(version, VersionState.SUBMITTED)


def assign(actor, version) -> Verdict:
    if not can(actor, ASSIGN, version):
        return person(_("Only a risk officer may assign validators."))
    if version.state not in ASSIGNABLE_STATES:
        return state(version, _("Validators are assigned to submitted versions; v%(n)s is %(state)s."),
                     "illegal_transition")
    return ALLOWED


def mark_validated(actor, version) -> Verdict:
    if not actor.has_perm(validation_perms.ASSIGNED, version):
        return person(_("Only a validator assigned to this version may complete its validation."))
    return transition_allowed(version, VersionState.VALIDATED)


def raise_finding(actor, version) -> Verdict:
    if not can(actor, RAISE, version):
        return person(_("Only validators, risk officers and security may raise findings."))
    if version.state not in FINDING_STATES:
        return state(version, _("Findings are raised on versions under review or approved; v%(n)s is %(state)s."))
    return ALLOWED


def answer_checklist(actor, version) -> Verdict:
    if not can(actor, ANSWER, version):
        return person(_("Only security reviewers may answer the OWASP checklist."))
    if version.state not in REVIEW_STATES:
        return state(version, _("The checklist is answered while the version is under review; v%(n)s is %(state)s."))
    return ALLOWED


def reject(actor, version) -> Verdict:
    if not can(actor, REVOKE, version):
        return person(_("Only a risk officer may reject a version outside a sign-off."))
    return transition_allowed(version, VersionState.REJECTED)


def revoke(actor, version) -> Verdict:
    if not isinstance(actor, SystemActor) and not can(actor, REVOKE, version):  # the platform revokes at expiry
        return person(_("Only a risk officer may revoke an approval."))
    return transition_allowed(version, VersionState.REVOKED)


def retire(actor, version) -> Verdict:
    if not (can(actor, REVOKE, version) or actor.pk == version.passport.business_owner_id):
        return person(_("Only a risk officer or the business owner may retire a version."))
    return transition_allowed(version, VersionState.RETIRED)


# Verb -> guard, in the order the version page lists the buttons. Signing has its own eligibility
# (``governance.workflow.services.signoffs.check_eligible``), asked per sign-off role.
def accept_test(actor, version) -> Verdict:
    if not can(actor, ACCEPT, version):
        return person(_("Only a risk officer may accept a failed or excepted test."))
    if version.state != VersionState.VALIDATED:
        return state(version, _("Tests are accepted on validated versions awaiting sign-off; v%(n)s is %(state)s."))
    if not report_gaps(report_in_force(version)):
        return state(version, _("The report in force of v%(n)s has no failed or excepted test to accept."),
                     "nothing_to_accept")
    return ALLOWED


VERBS: dict[str, Callable[..., Verdict]] = {
    "submit": submit, "assign": assign, "issue_report": issue_report, "mark_validated": mark_validated,
    "raise_finding": raise_finding, "answer_checklist": answer_checklist, "reject": reject, "revoke": revoke,
    "retire": retire, "accept_test": accept_test,
}


def verdicts(actor, version) -> dict[str, Verdict]:
    """Every verb's verdict for ``actor`` on ``version``: what the page shows, and why a button is missing."""
    return {verb: guard(actor, version) for verb, guard in VERBS.items()}
