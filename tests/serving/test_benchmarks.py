"""The serving control plane's benchmark runs on the embedded default, as anyone would first try it: its forked
ingest processes must write into the same scratch database the parent counts (on SQLite it was the test runner's
in-memory database, private to each process, so the benchmark stored nothing and stopped)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_serving_measures_ingest_and_the_tab_on_sqlite_without_touching_the_configured_database(tmp_path):
    configured = tmp_path / "configured.sqlite3"
    # manage.py's own settings, as a person runs it (the test settings name a file for the test database)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE")}
    env.update({"DATABASE_URL": f"sqlite:///{configured}", "MG_VAR_DIR": str(tmp_path / "var"), "DO_NOT_TRACK": "1"})
    result = subprocess.run([sys.executable, "manage.py", "bench_serving", "--hosts", "3", "--rounds", "2",
                             "--days", "1", "--repeat", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert re.search(r"^ingest: 6 windows from 3 hosts in [\d.]+ s from 2 processes", out, re.M), out
    assert re.search(r"^passport monitoring tab, 30 days: median \d+ ms", out, re.M), out
    scratch = re.search(r"^scratch database (\S+) dropped", out, re.M).group(1)
    assert scratch != str(configured) and not Path(scratch).exists()
    assert not configured.exists() or configured.stat().st_size == 0  # the configured database is never written
