"""The execution provider: CUDA where ONNX Runtime has it and a GPU answers, the CPU otherwise; what the agent
reports is what its sessions really got. On a GPU host the last test serves on CUDA and compares with the CPU."""

from __future__ import annotations

import json
import socket

import numpy as np
import onnxruntime as ort
import pytest

from serving.agent.runtime import CPU, CUDA, LoadFailed, probe, providers_for
from tests.agent.conftest import call, record

pytestmark = pytest.mark.slow

GPU = CUDA in ort.get_available_providers() and probe([CUDA, CPU])[0] == CUDA


def served_provider(agent) -> str:
    status, _h, payload = call(f"{agent.url}/v2/models/gbdt")
    assert status == 200, payload
    return json.loads(payload)["parameters"]["provider"]


@pytest.mark.skipif(GPU, reason="this host has a GPU that answers")
def test_onnxruntime_gpu_on_a_host_without_a_gpu_serves_on_the_cpu_and_says_why(monkeypatch):
    """onnxruntime-gpu lists CUDA on any host, driver or none, and then runs sessions on the CPU. The probe runs a
    real session asked for CUDA first: here ONNX Runtime falls back, so ``auto`` takes the CPU and ``cuda`` refuses,
    saying why."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    assert probe([CUDA, CPU]) == (CPU, "no GPU answered (ONNX Runtime fell back to the CPU)")
    assert providers_for("auto") == [CPU]
    with pytest.raises(LoadFailed, match="not available: no GPU answered"):
        providers_for("cuda")
    assert providers_for("cpu") == [CPU]


@pytest.mark.skipif(GPU, reason="this host has a GPU that answers")
def test_an_agent_told_to_serve_on_cuda_where_no_gpu_answers_exits_saying_so(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release, "--provider", "cuda", wait=False)
    assert agent.process.wait(60) == 1
    said = agent.log()
    assert "mg-agent: the CUDA execution provider is not available" in said and "Traceback" not in said
    with socket.socket() as sock:  # it never listened
        assert sock.connect_ex(("127.0.0.1", agent.port)) != 0


def test_the_agent_serves_and_reports_on_the_provider_its_sessions_got(gbdt_release, agent_factory):
    agent = agent_factory(gbdt_release)  # auto
    assert served_provider(agent) == (CUDA if GPU else CPU)
    status, _h, metrics = call(f"{agent.url}/metrics")
    assert status == 200 and f'provider="{CUDA if GPU else CPU}"' in metrics.decode()
    forced = agent_factory(gbdt_release, "--provider", "cpu")
    assert served_provider(forced) == CPU


@pytest.mark.skipif(not GPU, reason="needs a GPU and onnxruntime-gpu")
def test_on_a_gpu_host_auto_serves_on_cuda_and_answers_as_the_cpu_does(gbdt_release, agent_factory):
    gpu, cpu = agent_factory(gbdt_release), agent_factory(gbdt_release, "--provider", "cpu")
    assert served_provider(gpu) == CUDA and served_provider(cpu) == CPU
    body = {"records": [record(row) for row in gbdt_release.x[:256]]}
    answers = []
    for agent in (gpu, cpu):
        status, _h, payload = call(f"{agent.url}/v1/models/gbdt/predict", body)
        assert status == 200, payload
        answers.append(np.array([p["score"] for p in json.loads(payload)["predictions"]]))
    assert np.abs(answers[0] - answers[1]).max() < 1e-5
