#!/usr/bin/env bash
# The whole suite: ruff, the import layers (import-linter), Django's deploy checks, then pytest (SQLite unless DATABASE_URL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1 MLFLOW_DISABLE_TELEMETRY=true
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
mkdir -p var
# --dist load hands tests out in pytest-django's order, transactional tests last: their teardown empties every table,
# the role groups and policies the migrations made included, so no other test may run after one on the same worker.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist load -p no:cacheprovider "$@"
