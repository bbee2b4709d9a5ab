"""Workflow reads: the buttons a viewer sees, the inbox, the portfolio."""

from datetime import date

import pytest

from governance.workflow import selectors
from governance.workflow.services import findings
from tests.governance.workflow_helpers import Cast, register, to_in_validation, to_validated

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(db):
    return Cast()


def test_actions_follow_roles_and_state(passport, developer, owner, cast, outsider):
    version = register(passport, developer)
    assert selectors.available_actions(developer, version) == {"submit"}
    assert selectors.available_actions(outsider, version) == set()
    to_in_validation(version, developer, cast)
    assert {"issue_report", "mark_validated", "raise_finding"} <= selectors.available_actions(cast.validator, version)
    assert "submit" not in selectors.available_actions(developer, version)
    assert {"assign", "reject", "raise_finding"} <= selectors.available_actions(cast.risk, version)
    assert "answer_checklist" in selectors.available_actions(cast.security, version)


def test_inbox_lists_what_waits(passport, developer, owner, cast):
    version = to_validated(register(passport, developer), developer, cast)
    findings.finding_raise(actor=cast.validator, version=version, title="Docs", severity="low", owner=developer,
                           due_date=date(2020, 1, 1))
    assert [v.pk for v in selectors.inbox(user=cast.validator)["assigned"]] == [version.pk]
    assert [v.pk for v in selectors.inbox(user=owner)["signoffs_due"]] == [version.pk]
    assert selectors.inbox(user=developer)["signoffs_due"] == []  # the author never signs
    assert [f.title for f in selectors.inbox(user=developer)["findings"]] == ["Docs"]
    summary = selectors.portfolio_summary(user=cast.risk)
    assert {"state": "validated", "tier": 1, "count": 1} in summary["by_state_tier"]
    assert summary["overdue_count"] == 1 and summary["open_findings_by_severity"] == {"low": 1}
    assert selectors.portfolio_summary(user=developer)["overdue_count"] == 1
