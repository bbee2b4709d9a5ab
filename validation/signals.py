"""Events this room announces to the rooms above it (which import it; it imports none of them).

``run_succeeded(sender=ValidationRun, run=run)`` is sent inside the transaction that stores a run's results, so
what receivers write (the OWASP checklist's ML01 / ML04 auto evidence) commits or rolls back with the results.
"""

from __future__ import annotations

from django.dispatch import Signal

run_succeeded = Signal()
# ``report_issued(sender=ValidationReport, report=report, actor=actor)``: sent inside the transaction that issues
# a report, so what receivers write (sign-offs bound to the previous report stop counting) commits with it.
report_issued = Signal()
