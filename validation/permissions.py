"""Who may act on validation runs and reports.

Running a validation, issuing its report and cancelling a run belong to the validator assigned to the version.
The assignment lives in the workflow room above this one, which registers the relation
(``governance.workflow.permissions``); this room asks it with ``user.has_perm(ASSIGNED, version)`` and so never
imports the workflow.
"""

from __future__ import annotations

# A relation, not a grant: no role, object grant or superuser flag answers it (core.rules.relation).
ASSIGNED = "validation.assigned_validator"
