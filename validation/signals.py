"""Events this room announces to the rooms above it (which import it; it imports none of them).

``run_succeeded(sender=ValidationRun, run=run)`` is sent inside the transaction that stores a run's results, so
what receivers write (the OWASP checklist's ML01 / ML04 auto evidence) commits or rolls back with the results.
"""

from __future__ import annotations

from django.dispatch import Signal

run_succeeded = Signal()
