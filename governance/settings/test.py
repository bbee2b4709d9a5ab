"""Settings for the test suite: the database comes from DATABASE_URL (SQLite when absent)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret")

from governance.settings.base import *  # noqa: E402,F403
from governance.settings.base import REST_FRAMEWORK, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = VAR_DIR / "test-media"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "reauth": "100000/min",
                               "agent": "100000/min", "enrol": "100000/min"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Each test worker its own cache: user ids repeat across the workers' databases, counters must not.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Serve static files straight from the finders (no collectstatic needed outside production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# On SQLite the tests use a database file, like the embedded default (WAL, immediate transactions, busy timeout),
# not an in-memory one: threads in the concurrency tests then contend for the same locks a real server meets.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
MG_SIGNING_KEY_FILE = str(VAR_DIR / "keys" / "test-signing-key.pem")
# The suite's in-process workers take jobs at once; the warm-up has a test of its own (tests/validation).
MG_WORKER_WARMUP = False
