"""Fixtures shared by the whole suite."""

from __future__ import annotations

import importlib
import os
import shutil

import pytest
from django.conf import settings
from django.utils import translation

from tests.factories import TeamFactory, UserFactory, make_passport

os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_append_only_guards():
    """Between transactional tests Django empties every table with TRUNCATE, which PostgreSQL's statement triggers
    refuse on the append-only tables (governance 0007). The test harness, like any table owner, switches those
    triggers off for the flush only; the product has no such path, so ``manage.py flush`` is refused."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    tables = importlib.import_module("governance.migrations.0007_audit_tail_guards").APPEND_ONLY
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, [*(f"ALTER TABLE {t} DISABLE TRIGGER USER" for t in tables), *sql_list,
                               *(f"ALTER TABLE {t} ENABLE TRIGGER USER" for t in tables)])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _english_by_default():
    """The locale middleware leaves the language a request chose active in the thread that served it, and the
    test client serves requests in the test's own thread: every test starts in English whatever ran before."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    """Each test stores artifacts in its own folder, so tests never see each other's files."""
    settings.MEDIA_ROOT = tmp_path / "media"
    yield
    shutil.rmtree(tmp_path / "media", ignore_errors=True)


@pytest.fixture
def developer(db):
    return UserFactory(username="dev", roles=["model_developer"])


@pytest.fixture
def owner(db):
    return UserFactory(username="owner", roles=["model_owner"])


@pytest.fixture
def outsider(db):
    """Authenticated, but with no role and no relation to any passport."""
    return UserFactory(username="outsider")


@pytest.fixture
def auditor(db):
    return UserFactory(username="auditor", roles=["auditor"])


@pytest.fixture
def validator(db):
    return UserFactory(username="validator", roles=["validator"])


@pytest.fixture
def admin_user(db):
    user = UserFactory(username="admin", roles=["admin"])
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def team(developer):
    return TeamFactory(name="Risk models", members=[developer])


@pytest.fixture
def passport(developer, owner, team):
    return make_passport(actor=developer, key="credit-score", team=team, business_owner=owner)


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped on SQLite (the README's test command runs both in CI)."""
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))


@pytest.fixture
def job_worker(settings):
    """A worker for background jobs on a queue of this test's own; pair it with ``django_db(transaction=True)``
    so that it sees what the test commits."""
    import uuid

    from tests.workers import in_process_worker

    settings.MG_JOB_QUEUE = f"jobs-test-{uuid.uuid4().hex[:12]}"
    with in_process_worker(settings.MG_JOB_QUEUE) as worker:
        yield worker


@pytest.fixture
def eager():
    """Celery tasks run inline, in the test's own transaction (errors propagate)."""
    from governance.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
