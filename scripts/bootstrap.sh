#!/usr/bin/env bash
# Creates .venv and installs the project (with the test extras when asked, the demo extra always) and the Debian
# packages it needs. Versions come from requirements/lock.txt (refresh it with scripts/lock.sh).
# Idempotent: a stamp file skips the pip step while pyproject.toml and the lock file are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

need_apt=()
command -v chromium >/dev/null 2>&1 || [ "$extras" != "test" ] || need_apt+=(chromium)
[ -e /usr/lib/x86_64-linux-gnu/libpango-1.0.so.0 ] || [ -n "$(ls /usr/lib/*/libpango-1.0.so.0 2>/dev/null)" ] || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v msgfmt >/dev/null 2>&1 || need_apt+=(gettext)
fc-list 2>/dev/null | grep -qi dejavu || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "==> apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "==> missing system packages: ${need_apt[*]} (run: sudo apt-get install ${need_apt[*]})" >&2
  fi
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/lock.txt -nt "$stamp" ]; then
  echo "==> installing Python packages into .venv (versions from requirements/lock.txt)"
  .venv/bin/pip install -q --upgrade pip setuptools wheel
  if [ "$extras" = "test" ]; then target='.[test,demo]'; else target='.[demo]'; fi
  .venv/bin/pip install -q -c requirements/lock.txt -e "$target"
  touch "$stamp"
fi

# The tests import versions from a real MLflow tracking server. The full `mlflow` package (the server: Flask,
# SQLAlchemy, Alembic...) pins gunicorn and pyarrow below the product's, so it lives in a venv of its own under
# var/, at the version of the mlflow-skinny client the product uses.
if [ "$extras" = "test" ]; then
  mlflow_version="$(grep -i '^mlflow-skinny==' requirements/lock.txt | cut -d= -f3)"
  if [ "$(cat var/mlflow-server/.version 2>/dev/null)" != "$mlflow_version" ]; then
    echo "==> installing the MLflow tracking server $mlflow_version into var/mlflow-server (tests only)"
    rm -rf var/mlflow-server
    "$PY" -m venv var/mlflow-server
    var/mlflow-server/bin/pip install -q "mlflow==$mlflow_version"
    echo "$mlflow_version" > var/mlflow-server/.version
  fi
fi
