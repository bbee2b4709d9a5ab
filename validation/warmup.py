"""Warm a worker process before its first validation run.

A process's first run pays for importing Evidently, SHAP, scikit-learn and Plotly and for compiling the TreeSHAP
kernels (numba), 5-15 s on top of a run that takes about a second warm. A starting worker therefore runs one small
full-depth validation of its own, in memory on synthetic data (no database, no broker, nothing stored), so that
the first run it is sent is as fast as the next. It runs in a background thread of the process that will take
the tasks; a task that arrives meanwhile simply waits on the same imports.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)
_started = threading.Event()


def warm() -> float:
    """Run one small validation of every test; returns the seconds it took."""
    from validation.runner import execute
    from validation.synthetic import build_spec

    os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mg-warmup-") as folder:
        spec = build_spec(Path(folder), rows=1_500, reference_rows=1_500, features=13, trees=5, depth=3,
                          train_rows=1_000)
        execute(spec)
    return time.perf_counter() - began


def warm_in_background(reason: str) -> threading.Thread | None:
    """Start :func:`warm` in a daemon thread, once per process."""
    if _started.is_set():
        return None
    _started.set()

    def run() -> None:
        try:
            seconds = warm()
        except Exception:  # a failed warm-up costs the first run its imports, nothing more
            logger.exception("the validation warm-up failed")
        else:
            logger.info("validation warm-up (%s) done in %.1f s", reason, seconds)

    thread = threading.Thread(target=run, name="validation-warmup", daemon=True)
    thread.start()
    return thread
