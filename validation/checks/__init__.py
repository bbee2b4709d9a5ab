"""The validation test library: pure functions over numpy arrays and pandas frames.

Every test returns a JSON-serialisable dict with the same outer shape::

    {"status": "passed" | "failed" | "info" | "skipped" | "error", "passed": True | False | None,
     "value": <headline number>, "threshold": <its bound>, "op": ">=" | "<=",
     "metrics": {name: {"value", "threshold", "op", "passed"}}, "charts": {...}, "note": "..."}

``passed`` is None when nothing in the test had a threshold (reported, not judged) or it was skipped.
Nothing here touches Django, files or the network, so the functions are tested against scikit-learn directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def num(value) -> float | None:
    """A plain float for JSON, or None for missing, NaN and infinities."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def nums(values: Iterable) -> list[float | None]:
    return [num(v) for v in values]


def metric(value, threshold=None, op: str = ">=") -> dict:
    """One measured value against an optional bound; ``passed`` is None without a bound."""
    value, bound = num(value), num(threshold)
    if bound is None:
        passed = None
    elif value is None:
        passed = False  # a metric that cannot be computed does not meet its bound
    else:
        passed = value >= bound if op == ">=" else value <= bound
    return {"value": value, "threshold": bound, "op": op, "passed": passed}


def verdict(entries: Iterable[bool | None]) -> bool | None:
    """False if any judged entry failed, True if at least one passed and none failed, None if none was judged."""
    judged = [entry for entry in entries if entry is not None]
    return all(judged) if judged else None


def outcome(*, headline: str | None = None, metrics: dict | None = None, passed: bool | None = None,
            charts: dict | None = None, note: str = "", **extra) -> dict:
    """Assemble a test result. ``passed`` defaults to the verdict over ``metrics``; the headline metric's value,
    threshold and op are repeated at the top level so lists can show one number per test. When the test failed,
    the headline is a metric that failed it (the first, in the order the metrics are listed)."""
    metrics = metrics or {}
    if passed is None:
        passed = verdict(entry.get("passed") for entry in metrics.values())
    if passed is False and metrics.get(headline, {}).get("passed") is not False:
        # A failed test heads with the metric that failed it (the page, the report, the PDF and the API all show
        # the headline), not with a designated metric that passed.
        headline = next((name for name, entry in metrics.items() if entry.get("passed") is False), headline)
    top = metrics.get(headline, {}) if headline else {}
    return {
        "status": {True: "passed", False: "failed"}.get(passed, "info" if metrics else "skipped"),
        "passed": passed,
        "headline": headline,
        "value": top.get("value"),
        "threshold": top.get("threshold"),
        "op": top.get("op"),
        "metrics": metrics,
        "charts": charts or {},
        "note": note,
        **extra,
    }


def gettext_noop(message: str) -> str:
    """Marks a reason for translation (makemessages collects it) while the results keep it in English, as every
    run records it; pages show it in the reader's language (``validation.run_display``)."""
    return message


def skipped(reason: str, args: dict | None = None) -> dict:
    """A test that did not run, with its reason. A reason with values (``%(name)s``) keeps its message and the
    values apart as well (``note_msgid``, ``note_args``) so that pages can say it in the reader's language."""
    if not args:
        return {"status": "skipped", "passed": None, "headline": None, "value": None, "threshold": None, "op": None,
                "metrics": {}, "charts": {}, "note": reason}
    args = {key: str(value) for key, value in args.items()}
    return {**skipped(reason % args), "note_msgid": reason, "note_args": args}


def note_text(result: dict) -> str:
    """A test's note in the reader's language where the catalogue has it (results keep it in English)."""
    from django.utils.translation import gettext

    msgid, args = result.get("note_msgid"), result.get("note_args")
    if msgid and isinstance(args, dict):
        try:
            return gettext(msgid) % args
        except (KeyError, TypeError, ValueError):
            pass
    note = str(result.get("note") or "")
    return gettext(note) if note else ""


def not_applicable(reason: str) -> dict:
    """Skipped because the test does not apply to this kind of model (not because an input was missing): no
    exception to the tier policy is needed for it."""
    return {**skipped(reason), "applicable": False}


def errored(reason: str, args: dict | None = None) -> dict:
    return {**skipped(reason, args), "status": "error", "passed": False}


def downsample(xs: np.ndarray, ys: np.ndarray, points: int = 200) -> tuple[list, list]:
    """At most ``points`` evenly spaced points of a curve, always keeping both ends (chart data stays small)."""
    n = len(xs)
    if n <= points:
        return nums(xs), nums(ys)
    index = np.unique(np.linspace(0, n - 1, points).round().astype(int))
    return nums(xs[index]), nums(ys[index])
