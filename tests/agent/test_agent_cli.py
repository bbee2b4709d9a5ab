"""The agent's command line: every option and its MG_AGENT_* variable is read and bounded alike, and a bad value is
a usage error that names the option (exit 2), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.agent.__main__ import parser

ROOT = Path(__file__).resolve().parents[2]


def _parse(monkeypatch, env: dict[str, str], argv: list[str] | None = None):
    for name in [n for n in os.environ if n.startswith("MG_AGENT_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return parser().parse_args(argv or [])


def test_defaults_and_variables_are_read_as_their_options(monkeypatch):
    args = _parse(monkeypatch, {})
    assert (args.port, args.threads, args.window_seconds, args.poll_seconds, args.control_plane_timeout) == (
        8700, 1, 60.0, None, 10.0)
    assert (args.provider, args.labels, args.log_level, args.max_body_mb) == ("auto", {}, "INFO", 32.0)
    args = _parse(monkeypatch, {
        "MG_AGENT_PORT": "9100", "MG_AGENT_THREADS": "4", "MG_AGENT_WINDOW_SECONDS": "5",
        "MG_AGENT_POLL_SECONDS": "0.5", "MG_AGENT_CONTROL_PLANE_TIMEOUT": "30", "MG_AGENT_PROVIDER": "cpu",
        "MG_AGENT_LABELS": '{"zone": "eu-1"}', "MG_AGENT_LOG_LEVEL": "warning"})
    assert (args.port, args.threads, args.window_seconds, args.poll_seconds, args.control_plane_timeout) == (
        9100, 4, 5.0, 0.5, 30.0)
    assert (args.provider, args.labels, args.log_level) == ("cpu", {"zone": "eu-1"}, "WARNING")
    assert _parse(monkeypatch, {"MG_AGENT_PORT": "not-a-port"}, ["--port", "9200"]).port == 9200  # option wins


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("MG_AGENT_PORT", "eighty", "--port: 'eighty' is not an integer"),
    ("MG_AGENT_PORT", "70000", "--port: 70000 must be at least 0 and at most 65535"),
    ("MG_AGENT_THREADS", "0", "--threads: 0 must be at least 1"),
    ("MG_AGENT_THREADS", "2.5", "--threads: '2.5' is not an integer"),
    ("MG_AGENT_WINDOW_SECONDS", "1", "--window-seconds: 1 must be at least 5 and at most 3600"),
    ("MG_AGENT_WINDOW_SECONDS", "nan", "--window-seconds: nan must be"),
    ("MG_AGENT_POLL_SECONDS", "-1", "--poll-seconds: -1 must be more than 0"),
    ("MG_AGENT_CONTROL_PLANE_TIMEOUT", "0.0", "--control-plane-timeout: 0.0 must be more than 0"),
    ("MG_AGENT_MAX_BODY_MB", "-5", "--max-body-mb: -5 must be more than 0"),
    ("MG_AGENT_LOG_MAX_MB", "inf", "--log-max-mb: inf must be"),
    ("MG_AGENT_LOG_DISK_FLOOR_MB", "-1", "--log-disk-floor-mb: -1 must be at least 0"),
    ("MG_AGENT_PROVIDER", "gpu", "--provider: 'gpu' is not one of auto, cuda, cpu"),
    ("MG_AGENT_LABELS", "{zone: eu}", "--labels: '{zone: eu}' is not JSON"),
    ("MG_AGENT_LABELS", '["eu"]', "--labels: labels must be a JSON object of strings"),
    ("MG_AGENT_LABELS", '{"rack": 7}', "--labels: labels must be a JSON object of strings"),
    ("MG_AGENT_LOG_LEVEL", "loud", "--log-level: 'loud' is not one of DEBUG, INFO, WARNING, ERROR"),
])
def test_a_bad_value_is_a_usage_error_naming_the_option(monkeypatch, capsys, variable, value, says):
    with pytest.raises(SystemExit) as stop:
        _parse(monkeypatch, {variable: value})
    assert stop.value.code == 2
    assert says in capsys.readouterr().err
    option = "--" + variable.removeprefix("MG_AGENT_").lower().replace("_", "-")
    with pytest.raises(SystemExit):  # the same value given as the option is refused the same way
        _parse(monkeypatch, {}, [option, value])
    assert says in capsys.readouterr().err


def test_the_command_refuses_a_bad_variable_before_it_touches_anything(tmp_path):
    env = {**os.environ, "MG_AGENT_THREADS": "many", "MG_AGENT_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "serving.agent", "--control-plane", "http://127.0.0.1:9"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "argument --threads: 'many' is not an integer" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()
