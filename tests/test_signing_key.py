"""The platform's signing key made on first use by processes that start together (a web server and a worker, test
workers): every one gets the same whole key, never one still being written, and nothing else is left behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD = r"""
import sys, time
from cryptography.hazmat.primitives import serialization
from core.signing import _load
start = float(sys.argv[2])
while time.time() < start:
    pass
key = _load(sys.argv[1])
print(key.public_key().public_bytes(serialization.Encoding.DER,
                                    serialization.PublicFormat.SubjectPublicKeyInfo).hex())
"""


def test_processes_starting_together_share_one_whole_key(tmp_path):
    for attempt in range(3):
        path = tmp_path / f"attempt-{attempt}" / "signing-key.pem"
        start = time.time() + 2.0  # every process spins until the same moment, then makes or reads the key
        processes = [subprocess.Popen([sys.executable, "-c", LOAD, str(path), str(start)], cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)]
        results = [process.communicate(timeout=60) for process in processes]
        assert all(process.returncode == 0 for process in processes), [err for _out, err in results]
        assert len({out.strip() for out, _err in results}) == 1  # one key for all
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no half-written copies left
