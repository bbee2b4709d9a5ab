"""The cyclic garbage collector's pauses: a full collection walked every object of start-up (modules, ONNX Runtime,
numba's kernels), about 85 ms with every request stopped; the agent moves them out of its sight before serving,
and says on /metrics how often the collector ran and its longest pause."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys

import pytest

from tests.agent.conftest import ROOT, TOKEN, call, record

pytestmark = pytest.mark.slow

PROBE = r"""
import gc, json, sys, tempfile, time
from pathlib import Path
from serving.agent.agent import Agent, Config, settle_heap
folder, signature, public = map(Path, sys.argv[1:4])
agent = Agent(Config(state_dir=Path(tempfile.mkdtemp()), release=folder, signature=signature, public_key=public,
                     allow_anonymous=True))
agent.start()
def full():
    took = []
    for _ in range(3):
        start = time.perf_counter(); gc.collect(); took.append(time.perf_counter() - start)
    return sorted(took)[1]
before = full()
settle_heap()
print(json.dumps({"before": before, "after": full(), "frozen": gc.get_freeze_count()}))
"""


def test_a_full_collection_after_start_up_walks_a_fraction_of_the_heap(gbdt_release):
    out = subprocess.run([sys.executable, "-c", PROBE, str(gbdt_release.folder), str(gbdt_release.signature),
                          str(gbdt_release.public_key)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.splitlines()[-1])
    assert figures["frozen"] > 50_000, figures
    assert figures["after"] * 10 < figures["before"], figures  # e.g. 1 ms after, 75 ms before


def test_metrics_say_how_often_the_collector_ran_and_its_longest_pause(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release)
    connection = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
    for row in gbdt_release.x[:400]:  # batches of one to three rows: enough young garbage for a collection
        for size in (1, 2, 3):
            body = json.dumps({"records": [record(row)] * size})
            connection.request("POST", "/v1/models/gbdt/predict", body, {"Authorization": f"Bearer {TOKEN}"})
            answer = connection.getresponse()
            assert answer.status == 200 and answer.read()
    metrics = call(f"{agent.url}/metrics")[2].decode()
    frozen = int(re.search(r"^mg_agent_gc_frozen_objects (\d+)$", metrics, re.M).group(1))
    assert frozen > 50_000
    runs = {g: int(n) for g, n in re.findall(r'^mg_agent_gc_collections_total\{generation="(\d)"\} (\d+)$',
                                              metrics, re.M)}
    longest = {g: float(t) for g, t in re.findall(r'^mg_agent_gc_pause_max_seconds\{generation="(\d)"\} ([\d.]+)$',
                                                  metrics, re.M)}
    assert set(runs) == set(longest) == {"0", "1", "2"}
    assert runs["0"] > 0 and 0 < longest["0"] < 0.05, (runs, longest)
    assert "# TYPE mg_agent_gc_pause_seconds_total counter" in metrics
