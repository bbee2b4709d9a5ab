"""The web worker's start-up heap is out of the garbage collector's sight before it serves: a full collection
walked all of it (about 260,000 objects), holding every thread of the worker for 70-140 ms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import gc, json, time
import governance.wsgi
from django.test import Client
frozen = gc.get_freeze_count()
Client().get("/accounts/login/")  # the first page: the views were loaded before it
start = time.perf_counter(); gc.collect(); after = time.perf_counter() - start
gc.unfreeze()
start = time.perf_counter(); gc.collect(); whole = time.perf_counter() - start
print(json.dumps({"frozen": frozen, "after": after, "whole": whole}))
"""


def test_the_web_worker_freezes_its_start_up_heap_before_the_first_request():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.splitlines()[-1])
    assert figures["frozen"] > 100_000, figures
    assert figures["after"] * 5 < figures["whole"], figures  # e.g. 4 ms against 70 ms
