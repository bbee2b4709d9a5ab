"""The floor plan holds: import-linter refuses an upward import, and moving code between rooms changed no table."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "governance", "registry", "validation", "serving")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(("module", "upward"), [
    ("registry/selectors.py", "governance.workflow.models"),  # registry sits below the workflow
    ("core/errors.py", "registry.models"),  # the kernel imports no room
    ("validation/checks/__init__.py", "governance.ledger.services"),  # validation sits below the ledger
    ("serving/agent/__init__.py", "django.conf"),  # the host agent runs without Django
])
def test_an_upward_import_fails_the_layer_contracts(tree_copy, module, upward):
    assert _lint(tree_copy).returncode == 0, "the unchanged tree must pass"
    target = tree_copy / module
    target.write_text(target.read_text() + f"\nimport {upward}  # noqa\n")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert upward.split(".")[0] in result.stdout


@pytest.mark.django_db
def test_the_models_match_the_migrations():
    """Rooms keep the ``governance`` app label: a database created before the move migrates with no new step."""
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
