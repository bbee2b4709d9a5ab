#!/usr/bin/env bash
# The whole suite: ruff, the import layers (import-linter), Django's deploy checks, then pytest (SQLite unless DATABASE_URL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
export DO_NOT_TRACK=1 MLFLOW_DISABLE_TELEMETRY=true
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
mkdir -p var
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup -p no:cacheprovider "$@"
