"""Each workflow rule is written once: the guard a service enforces is the one the page and the API read.

For every verb, every person of a review and a version in every state: the verb is offered exactly when its guard
allows it, and when the guard refuses, the service refuses with the guard's reason and code, changing nothing.
"""

from __future__ import annotations

import pytest

from core.errors import DomainError
from governance.audit.models import AuditEvent
from governance.workflow import guards
from governance.workflow.selectors import available_actions
from governance.workflow.services import transitions as workflow
from registry.models import ModelVersion
from tests import api_helpers
from tests.governance.test_workflow_api import cast, flow, people  # noqa: F401  (fixtures)

users, world = api_helpers.users, api_helpers.world
pytestmark = pytest.mark.django_db
STATES = ("version", "submitted", "in_validation", "validated", "approved")  # v1 of the world is a draft
SERVICES = {
    "submit": lambda actor, v: workflow.version_submit(actor=actor, version=v),
    "mark_validated": lambda actor, v: workflow.version_mark_validated(actor=actor, version=v),
    "reject": lambda actor, v: workflow.version_reject(actor=actor, version=v, reason="No."),
    "revoke": lambda actor, v: workflow.version_revoke(actor=actor, version=v, reason="Incident."),
    "retire": lambda actor, v: workflow.version_retire(actor=actor, version=v, reason="Replaced."),
}


def test_the_page_offers_a_verb_exactly_when_its_guard_allows_it(flow, people):  # noqa: F811
    flow.build(*STATES[1:])
    versions = [ModelVersion.objects.get(passport=flow.passport, number=getattr(flow, s)) for s in STATES]
    offered = 0
    for user in people.values():
        for version in versions:
            actions = available_actions(user, version)
            for verb, verdict in guards.verdicts(user, version).items():
                assert (verb in actions) == bool(verdict), (user, version.state, verb, verdict)
                assert verdict.ok or verdict.reason, (user, version.state, verb)
                offered += verdict.ok
    assert offered > 10  # the matrix exercised both answers


def test_a_refusing_guard_is_the_services_refusal(flow, people):  # noqa: F811
    flow.build(*STATES[1:])
    checked = 0
    for name in ("developer", "owner", "risk", "val", "val2", "sec", "auditor"):
        user = people[name]
        for state in STATES:
            version = ModelVersion.objects.get(passport=flow.passport, number=getattr(flow, state))
            for verb, call in SERVICES.items():
                verdict = guards.VERBS[verb](user, version)
                if verdict.ok:
                    continue
                events = AuditEvent.objects.count()
                with pytest.raises(DomainError) as refused:
                    call(user, version)
                assert (refused.value.message, refused.value.code) == (verdict.reason, verdict.code or
                                                                        "permission_denied"), (name, state, verb)
                assert AuditEvent.objects.count() == events
                checked += 1
    assert checked > 50
