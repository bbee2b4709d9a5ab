"""What the workflow asks of the rooms above it (core.hooks): serving fills it at start-up.

- ``checklist_evidence(code, version) -> dict``: more automatic evidence for an OWASP checklist item from rooms
  above the workflow (serving: access to releases and hosts for ML05, drift monitoring for ML08, signed releases
  for ML09, the artifact digest checked at load for ML10). Merged into ``owasp.auto_evidence_for``; answers are
  keyed by the item's code (a provider answers ``{}`` for items it knows nothing of).
"""

from __future__ import annotations

from core.hooks import Slot

checklist_evidence = Slot("workflow.checklist_evidence")
