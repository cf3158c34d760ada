"""Every benchmark record says what was measured: commit, date, machine and load average, the models served."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from loadtests import bench_score, performance_report, soak
from loadtests.client import NotLoopback
from loadtests.report import provenance, served_by, served_by_text, served_models, uncommitted
from loadtests.server import Gateway, free_port
from service.detect import DETECTOR
from service.runtime import Runtime
from service.settings import Settings
from tests.loadtests.fake_gateway import DEFAULT_MODELS, fake_gateway_thread

REPO = Path(__file__).resolve().parents[2]
CUDA_FIRST = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_provenance_names_the_commit_the_date_and_the_machine() -> None:
    record = provenance()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    assert record["commit"] == head.stdout.strip()
    assert isinstance(record["dirty"], bool)
    assert abs(datetime.fromisoformat(record["date"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert record["machine"]["cores"] == os.cpu_count()
    assert len(record["machine"]["loadavg"]) == 3 and record["machine"]["onnxruntime"]


def test_only_code_changes_make_a_run_uncommitted_not_the_reports_benchmarks_write(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    assert uncommitted(tmp_path) is None  # not a checkout
    git("init", "-q")
    (tmp_path / "reports").mkdir()
    for path in ("reports/performance.json", "README.md", "code.py"):
        (tmp_path / path).write_text("0\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert uncommitted(tmp_path) is False
    (tmp_path / "reports" / "performance.json").write_text("1\n")
    (tmp_path / "README.md").write_text("1\n")  # its performance block is rendered from the reports
    assert uncommitted(tmp_path) is False
    (tmp_path / "code.py").write_text("1\n")
    assert uncommitted(tmp_path) is True


def test_served_models_asks_the_gateway_and_never_guesses() -> None:
    with fake_gateway_thread() as server:
        assert served_models(server.url) == DEFAULT_MODELS
    assert served_models(f"http://127.0.0.1:{free_port()}") is None  # nothing listening: not recorded
    with pytest.raises(NotLoopback):
        served_models("http://192.0.2.1:8000")


def _recorded(monkeypatch: pytest.MonkeyPatch, module: Any) -> dict[str, dict[str, Any]]:
    """What ``module``'s main stores into the performance JSON, caught instead of written to reports/."""
    sections: dict[str, dict[str, Any]] = {}
    monkeypatch.setattr(
        module, "update_performance", lambda name, data: sections.update({name: json.loads(json.dumps(data))})
    )
    return sections


def _assert_provenance(record: dict[str, Any]) -> None:
    assert record["commit"] == provenance()["commit"] and record["date"]
    assert record["models"] == DEFAULT_MODELS
    assert record["machine"]["cores"] == os.cpu_count() and len(record["machine"]["loadavg"]) == 3
    assert len(record["loadavg_after"]) == 3


def test_bench_score_records_its_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    sections = _recorded(monkeypatch, bench_score)
    with fake_gateway_thread() as server:
        argv = ["--url", server.url, "--duration", "0.3", "--warmup", "0.1", "--concurrency", "1", "--section", "t"]
        assert bench_score.main(argv) == 0
    record = sections["t"]
    _assert_provenance(record)
    assert record["settings_env"] is None  # a gateway it did not start: its settings are not known
    assert record["results"][0]["ok"] > 0
    # and the report reads it back: a run of the default, with its commit
    markdown = performance_report.render(sections, [*DEFAULT_MODELS], DEFAULT_MODELS)
    assert "### `t` (current default)" in markdown and f"commit `{record['commit'][:12]}`" in markdown


def test_soak_records_its_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    sections = _recorded(monkeypatch, soak)
    with fake_gateway_thread() as server:
        argv = ["--url", server.url, "--duration", "1", "--probe", "0.3", "--warmup", "0.1", "--window", "1",
                "--mix", "face_vga", "--section", "t"]  # fmt: skip
        assert soak.main(argv) == 0
    _assert_provenance(sections["t"])
    assert sections["t"]["summary"]["errors"] == 0


def test_a_started_gateway_records_every_fiqa_variable_it_inherits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIQA_MAX_WAIT_MS", "1")
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    env = Gateway(env={"FIQA_DEFAULT_MODELS": '["diffiqa"]'}).settings_env
    assert env["FIQA_MAX_WAIT_MS"] == "1" and env["FIQA_DEFAULT_MODELS"] == '["diffiqa"]'
    assert all(key.startswith("FIQA_") for key in env)


def test_served_by_records_the_providers_the_sessions_really_run_on() -> None:
    """Asked for CUDA: the record holds what the sessions themselves report; on a CPU-only onnxruntime (this
    project's machines) that is the CPU they fell back to, and no figure is called a GPU one."""
    runtime = Runtime(Settings(warmup=False, ort_providers=CUDA_FIRST))
    names = [DETECTOR, *runtime.methods[runtime.settings.default_models[0]].card.networks]
    runtime.load(names)
    record = served_by(runtime.backend, runtime.settings, names)
    # the sessions themselves, read here only to check the record against them
    real = {name: session.get_providers() for name, session in runtime.backend._sessions.items()}
    runtime.shutdown()
    assert record["ort_providers_asked"] == CUDA_FIRST and record["backend"] == "onnxruntime"
    assert {name: described["providers"] for name, described in record["networks"].items()} == real
    gpu = "CUDAExecutionProvider" in ort.get_available_providers()
    assert record["accelerator"] is gpu
    if not gpu:
        assert set(map(tuple, real.values())) == {("CPUExecutionProvider",)}
        assert "no figure is a GPU one" in served_by_text(record)


class _Described:
    """A backend that reports what a GPU host's sessions would (the record must take it as given)."""

    def describe(self, name: str) -> dict[str, Any]:
        return {"runtime": "onnxruntime 1.x", "providers": CUDA_FIRST, "loaded": True}


def test_served_by_calls_a_figure_a_gpu_one_only_when_a_network_ran_on_one() -> None:
    record = served_by(_Described(), Settings(warmup=False, ort_providers=CUDA_FIRST), ["centerface"])  # type: ignore[arg-type]
    assert record["accelerator"] is True and "on a GPU" in served_by_text(record)
