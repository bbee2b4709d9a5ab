"""Settings of the Celery worker that tests/validation/test_worker_kill.py starts and kills: the test settings,
the test's database (DATABASE_URL) and media folder, a queue of its own, and a runner slowed down by a delay at
every step so that the worker can be killed in the middle of a run."""

import os

from governance.settings.test import *  # noqa: F403

MEDIA_ROOT = os.environ["MG_TEST_MEDIA_ROOT"]
MG_VALIDATION_QUEUE = os.environ["MG_TEST_VALIDATION_QUEUE"]
MG_VALIDATION_STEP_DELAY = 1.5
MG_VALIDATION_HEARTBEAT_SECONDS = 0.5
MG_VALIDATION_STALE_SECONDS = 600  # only the lease can tell the killed worker has gone
MG_VALIDATION_MAX_ATTEMPTS = int(os.environ.get("MG_TEST_MAX_ATTEMPTS", "3"))
