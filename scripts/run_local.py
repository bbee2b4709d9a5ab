"""Bring the whole product up on the embedded default and stop it all on Ctrl-C.

SQLite in var/, artifacts in var/media/, a real Celery worker and beat on kombu's filesystem broker (or on
CELERY_BROKER_URL when set), migrations, demo data seeded once, the web server on 127.0.0.1:8000, and a host
agent on 127.0.0.1:8700 enrolled with the control plane: once it has enrolled, the demo's demand forecast is
approved and deployed on it, and a minute of demo traffic flows, so the Monitoring tab has something to show.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = os.environ.get("MG_HOST", "127.0.0.1")
PORT = os.environ.get("MG_PORT", "8000")
AGENT_PORT = os.environ.get("MG_AGENT_PORT", "8700")


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def _stop(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C (SIGINT) and SIGTERM both stop everything, even when started from a shell that ignored SIGINT.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.local")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    var_dir = Path(os.environ.get("MG_VAR_DIR", ROOT / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    manage("migrate", "--noinput", "-v", "0")
    manage("seed_demo")
    procs = {
        "worker": [PY, "-m", "celery", "-A", "governance", "worker", "-l", "INFO", "--concurrency", "2",
                   "-n", "local@%h"],
        "beat": [PY, "-m", "celery", "-A", "governance", "beat", "-l", "INFO",
                 "--schedule", str(var_dir / "celerybeat-schedule")],
        # A real WSGI server with a fixed number of threads: each thread holds at most one database connection,
        # so the web process never holds more than MG_WEB_THREADS of them (Django's development server opened a
        # thread, and a connection, per request).
        "web": [PY, "-m", "gunicorn", "governance.wsgi", "--bind", f"{HOST}:{PORT}", "--workers", "1",
                "--worker-class", "gthread", "--threads", os.environ.get("MG_WEB_THREADS", "8"),
                "--timeout", "300", "--access-logfile", "-"],
    }
    agent_dir = var_dir / "agent"
    tokens = json.loads(subprocess.run([PY, "manage.py", "serving_demo", "--prepare", "--state-dir", str(agent_dir)],
                                       cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    procs["agent"] = [PY, "-m", "serving.agent", "--control-plane", f"http://{HOST}:{PORT}", "--name", "local-agent",
                      "--state-dir", str(agent_dir), "--port", AGENT_PORT, "--clients-file", tokens["clients_file"],
                      "--window-seconds", "10", "--poll-seconds", "2",
                      *(["--enrolment-token", tokens["enrolment_token"]] if tokens["enrolment_token"] else [])]
    # Once the agent has enrolled: the demo model approved and deployed, then a minute of traffic.
    procs["demo"] = ["sh", "-c", f'"{PY}" manage.py serving_demo --deploy --state-dir "{agent_dir}" && sleep 8 && '
                     f'"{PY}" -m serving.agent.traffic --url http://127.0.0.1:{AGENT_PORT} --state-dir "{agent_dir}" '
                     f'--model demand-forecast --token-file "{agent_dir}/demo-client-token" --seconds 60 --rate 20 '
                     f'--records "{agent_dir}/demo-records.json"']
    accounts = subprocess.run([PY, "manage.py", "seed_demo", "--accounts"], cwd=ROOT, capture_output=True, text=True)
    # Each in a process group of its own, stopped as a group: the demo's traffic runs under a shell, and the Celery
    # worker's pool and gunicorn's worker are children of their masters; none may outlive a stop.
    running = {name: subprocess.Popen(cmd, cwd=ROOT, start_new_session=True) for name, cmd in procs.items()}
    print(f"\n  Model Governance: http://{HOST}:{PORT}/  (API docs: http://{HOST}:{PORT}/api/docs/)")
    print("  Demo accounts, one per role:")
    print(accounts.stdout.rstrip() or "   (see manage.py seed_demo --accounts)")
    print(f"  Host agent: http://127.0.0.1:{AGENT_PORT}/v2/health/ready  (metrics: /metrics; client token in "
          f"{agent_dir / 'demo-client-token'})")
    print("  Ctrl-C stops everything.\n", flush=True)
    try:
        while all(p.poll() is None for n, p in running.items() if n != "demo"):
            time.sleep(0.5)
        dead = [n for n, p in running.items() if p.poll() is not None and n != "demo"]
        print(f"  {', '.join(dead)} stopped; shutting down the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in running.values():  # the leaders first: each stops its own children gracefully
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for proc in running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.time()))
            with contextlib.suppress(ProcessLookupError):  # raised once the whole group has exited
                os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group after the grace period


if __name__ == "__main__":
    sys.exit(main())
