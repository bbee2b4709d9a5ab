"""Project-wide checks that belong in the suite: lint, deploy checks, migrations, a real Celery worker."""

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(args, env=None, timeout=300):
    # Test-only switches (Playwright's async-unsafe flag) must not leak into the deploy checks.
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={**base, **(env or {})},
                          timeout=timeout)


def test_ruff_passes_with_project_configuration():
    result = run([sys.executable, "-m", "ruff", "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_with_production_settings_reports_nothing():
    env = {
        "DJANGO_SETTINGS_MODULE": "governance.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "governance.example.com",
        "DATABASE_URL": "sqlite:////tmp/mg-deploy-check.sqlite3",
    }
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {"DJANGO_SETTINGS_MODULE": "governance.settings.production", "DJANGO_ALLOWED_HOSTS": "x.example.com"}
    clean = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                            env={**clean, **env}, timeout=120)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.django_db
def test_migrations_are_complete():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.slow
def test_a_real_celery_worker_consumes_from_the_broker():
    """Start a worker process on the configured broker (Redis in CI, the filesystem by default) and ping it."""
    from governance.celery import ensure_broker_folders, ping

    ensure_broker_folders()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "governance", "worker", "-P", "solo", "-l", "WARNING",
         "-n", f"pytest-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "governance.settings.test"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        started = time.monotonic()
        assert ping.delay().get(timeout=90) == "pong"
        assert time.monotonic() - started < 90
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
