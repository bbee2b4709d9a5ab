"""Embedded default for one machine: SQLite, local files, a filesystem Celery broker, DEBUG on."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "local-development-only-not-secret")
os.environ.setdefault("DJANGO_DEBUG", "true")

from governance.settings.base import *  # noqa: E402,F403

# Serve static files straight from the finders (no collectstatic needed outside production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
