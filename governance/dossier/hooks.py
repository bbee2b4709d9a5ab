"""What the dossier asks of the rooms above it (core.hooks): serving fills it at start-up.

- ``passport_records(passport) -> dict``: more records of a passport for the dossier and the evidence pack's
  ``records.json`` (serving: deployments, incidents with their alerts and timelines, the serving policy), as plain
  JSON values only (never labels in a language: the same records give the same digest).
"""

from __future__ import annotations

from core.hooks import Slot

passport_records = Slot("dossier.passport_records")
