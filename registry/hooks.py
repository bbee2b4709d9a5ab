"""What the registry's pages show from the rooms above it (core.hooks): they fill these at start-up.

- ``passport_abilities(user, passport) -> dict``: extra entries of the passport page's ``can`` (``ledger``:
  whether the user may open the passport's ledger).
- ``version_page(request, version, **state) -> dict``: extra context of the version page (``wf``: the workflow
  panel; ``validation_runs``: the runs card). ``state`` carries what a refused action hands back to show
  (``workflow_forms``, ``workflow_error``).
"""

from __future__ import annotations

from core.hooks import Slot

passport_abilities = Slot("registry.passport_abilities")
version_page = Slot("registry.version_page")
