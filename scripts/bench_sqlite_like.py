"""Cost of the Unicode case-insensitive LIKE (core.sqlite) against SQLite's ASCII-only built-in, side by side.

A search of the passport list scans its key and name columns with LIKE on the embedded default. This times the
same query over N rows with each LIKE (median of several runs). Usage:
    .venv/bin/python scripts/bench_sqlite_like.py [rows]
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.sqlite import like  # noqa: E402

QUERY = "SELECT count(*) FROM passport WHERE key LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\'"


def _db(rows: int, unicode_like: bool) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    if unicode_like:
        db.create_function("like", 2, like, deterministic=True)
        db.create_function("like", 3, like, deterministic=True)
    rng = random.Random(7)
    words = ["Credit", "Ёлка", "Demand", "Fraud", "Churn", "Скоринг", "Прогноз", "Model"]
    db.execute("CREATE TABLE passport (key TEXT, name TEXT)")
    db.executemany("INSERT INTO passport VALUES (?, ?)", [
        ("".join(rng.choices(string.ascii_lowercase, k=12)), " ".join(rng.choices(words, k=4)) + f" {i}")
        for i in range(rows)])
    return db


def _median_ms(db: sqlite3.Connection, pattern: str, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        db.execute(QUERY, (pattern, pattern)).fetchone()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    builtin, unicode = _db(rows, False), _db(rows, True)
    for term in ("%credit%", "%ёлка%"):
        a, b = _median_ms(builtin, term), _median_ms(unicode, term)
        found_a = builtin.execute(QUERY, (term, term)).fetchone()[0]
        found_b = unicode.execute(QUERY, (term, term)).fetchone()[0]
        print(f"{rows} rows, {term!r}: built-in {a:.1f} ms ({found_a} found), Unicode {b:.1f} ms ({found_b} found),"
              f" ratio {b / a:.1f}x")


if __name__ == "__main__":
    main()
