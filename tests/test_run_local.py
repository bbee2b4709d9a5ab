"""`make run` (scripts/run_local.py) stops everything it started: the web server, the Celery worker and beat, the
host agent and the demo's traffic, children of children included. It is started and stopped here as a person or a
process manager would (SIGTERM), on its embedded default in a scratch folder."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every live process under ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_make_run_stops_every_process_it_started_on_sigterm(tmp_path):
    web, agent = _free_port(), _free_port()
    drop = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update({"MG_VAR_DIR": str(tmp_path / "var"), "MG_PORT": str(web), "MG_AGENT_PORT": str(agent),
                "DO_NOT_TRACK": "1"})
    with open(tmp_path / "run.log", "wb") as log:
        run = subprocess.Popen([sys.executable, "scripts/run_local.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 240
        while not (_answers(f"http://127.0.0.1:{agent}/v2/health/live")
                   and _answers(f"http://127.0.0.1:{web}/login/")):
            assert run.poll() is None and time.time() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(1)
        while not any(b"serving.agent.traffic" in _cmdline(pid) for pid in _descendants(run.pid)):
            assert time.time() < deadline, "the demo's traffic never started"  # a grandchild, under a shell
            time.sleep(0.5)
        started = _descendants(run.pid)
        assert len(started) >= 6, started  # web, worker, beat, agent, the demo's shell and traffic, their children

        run.send_signal(signal.SIGTERM)
        assert run.wait(40) == 0
        deadline = time.time() + 10
        while any(_alive(pid) for pid in started) and time.time() < deadline:
            time.sleep(0.2)
        left = {pid: _cmdline(pid)[:120] for pid in started if _alive(pid)}
        assert left == {}, left
        assert not _answers(f"http://127.0.0.1:{agent}/v2/health/live")
    finally:
        for pid in {run.pid, *_descendants(run.pid)}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
