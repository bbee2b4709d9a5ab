"""Fixtures of the governance tests."""

import pytest


@pytest.fixture
def cast(db):
    """The reviewers of one version, none of them in the development team."""
    from tests.governance.workflow_helpers import Cast

    return Cast()
