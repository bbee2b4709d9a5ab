"""`make run`'s web server keeps its database connections bounded under load (PostgreSQL).

Django's development server opened a thread, and a persistent connection, per request: after about 600 requests
it held 100 connections and PostgreSQL refused every client. The embedded default now runs gunicorn with a fixed
number of threads; this test serves 300 authenticated requests from 16 client threads and watches
``pg_stat_activity`` meanwhile.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from governance.accounts.services import token_create
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
THREADS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


SERVER = "mg-web-connections-test"  # the application_name the server's connections carry


def _server_connections(db: str) -> int:
    """The web server's connections to the test database (told apart by their application name from whatever
    else this test process holds: the live server's request threads of earlier tests, in-process workers)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                       [db, SERVER])
        return cursor.fetchone()[0]


def test_connections_stay_bounded_under_load(tmp_path, settings):
    user = UserFactory(username="load", roles=["auditor"])
    _token, secret = token_create(user=user, name="load", scopes=["registry:read"])
    db = settings.DATABASES["default"]
    url = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
           f"?application_name={SERVER}")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "governance.settings.local",
           "MG_VAR_DIR": str(tmp_path), "DATABASE_CONN_MAX_AGE": "600", "DO_NOT_TRACK": "1",
           "API_THROTTLE_USER": "100000/min"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "governance.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--worker-class", "gthread", "--threads", str(THREADS)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=2)  # noqa: S310 (a local test server)
                break
            except OSError:
                time.sleep(0.2)
        seen, stop = [], threading.Event()

        def watch():
            while not stop.is_set():
                seen.append(_server_connections(db["NAME"]))
                time.sleep(0.05)
            connection.close()

        watcher = threading.Thread(target=watch)
        watcher.start()

        def fetch(_i) -> int:
            request = urllib.request.Request(f"{base}/api/v1/passports/", headers={"Authorization": f"Bearer {secret}"})
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(fetch, range(300)))
        stop.set()
        watcher.join()
        assert statuses == [200] * 300
        assert seen and 0 < max(seen) <= THREADS, max(seen)  # the server was seen, and stayed within its threads
    finally:
        server.terminate()
        server.wait(timeout=30)
