"""What this room asks of the rooms above it (core.hooks): the workflow provides the answers at start-up.

- ``review_policy(version) -> dict``: the approval policy in force for ``version`` (the snapshot taken at
  submission, else the tier's current policy): validation depth and thresholds. Required: a validation run
  cannot pick its tests without it.
- ``version_findings(version) -> list``: the findings raised on ``version``, shown in the report and on the
  page that issues it. Optional: none without a workflow.
- ``test_findings(run) -> dict``: the findings raised from the run's failed tests, by test name; the run page
  lists them on each test's row. Optional.
- ``finding_raise_url(user, run) -> str | None``: where ``user`` raises a finding from a failed test of ``run``
  (the test's name is appended), or None when they may not. Optional.
"""

from __future__ import annotations

from core.hooks import Hook

review_policy = Hook("validation.review_policy")
version_findings = Hook("validation.version_findings", default=lambda version: [])
test_findings = Hook("validation.test_findings", default=lambda run: {})
finding_raise_url = Hook("validation.finding_raise_url", default=lambda user, run: None)
