"""Champion vs challenger: the same tests on the current champion, side by side with the version under
validation. The challenger passes when its headline metric does not trail the champion's by more than
``tolerance`` (non-inferiority)."""

from __future__ import annotations

from validation.checks import metric, num, outcome

COMPARED = ("performance", "calibration", "stability", "generalisation", "robustness", "segments")


def _values(result: dict) -> dict[str, float | None]:
    return {name: entry.get("value") for name, entry in (result or {}).get("metrics", {}).items()}


def compare(challenger: dict[str, dict], champion: dict[str, dict], *, headline: str, thresholds: dict) -> dict:
    """``challenger`` and ``champion`` map test name to test result (same shape as the library's tests)."""
    table = []
    for test in COMPARED:
        if test not in challenger or test not in champion:
            continue
        ours, theirs = _values(challenger[test]), _values(champion[test])
        ops = {name: entry.get("op") for name, entry in challenger[test].get("metrics", {}).items()}
        for name in ours:
            if name in theirs:
                a, b = ours[name], theirs[name]
                table.append({"test": test, "metric": name, "challenger": a, "champion": b,
                              "delta": num(a - b) if a is not None and b is not None else None,
                              "higher_is_better": ops.get(name) != "<=",
                              "challenger_passed": challenger[test].get("passed"),
                              "champion_passed": champion[test].get("passed")})
    ours = challenger.get("performance", {}).get("metrics", {}).get(headline, {}).get("value")
    theirs = champion.get("performance", {}).get("metrics", {}).get(headline, {}).get("value")
    tolerance = thresholds.get("tolerance")
    delta = ours - theirs if ours is not None and theirs is not None else None
    return outcome(headline="headline_delta", metrics={
        "headline_delta": metric(delta, None if tolerance is None else 0.0 - float(tolerance), ">="),
        "challenger": metric(ours),
        "champion": metric(theirs),
    }, metric_name=headline, table=table,
        charts={"side_by_side": {"metrics": [f"{r['test']}.{r['metric']}" for r in table],
                                 "challenger": [r["challenger"] for r in table],
                                 "champion": [r["champion"] for r in table]}})
