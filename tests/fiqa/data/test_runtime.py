"""Offline commands find faces with the reference detector path, whatever the serving default or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from fiqa.data.runtime import REFERENCE, offline_runtime
from service.settings import Settings

FIQA = Path(__file__).resolve().parents[3] / "fiqa"


def test_the_reference_path_wins_over_the_environment_and_an_explicit_override_over_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIQA_DETECTOR_MODE", "fast")
    assert offline_runtime(warmup=False).settings.detector_mode == REFERENCE["detector_mode"] == "full"
    assert offline_runtime(warmup=False, detector_mode="fast").settings.detector_mode == "fast"


def test_no_offline_command_builds_the_served_runtime_directly() -> None:
    direct = [
        str(path.relative_to(FIQA))
        for path in sorted(FIQA.rglob("*.py"))
        if "Runtime.from_env(" in path.read_text() and path != FIQA / "data" / "runtime.py"
    ]
    assert not direct, f"build through fiqa.data.runtime.offline_runtime: {direct}"


def test_an_offline_thread_count_sets_the_quality_networks_threads_too() -> None:
    settings = offline_runtime(warmup=False, ort_intra_op_threads=3).settings
    assert settings.ort_intra_op_threads == settings.ort_quality_intra_op_threads == 3
    split = offline_runtime(warmup=False, ort_intra_op_threads=3, ort_quality_intra_op_threads=2).settings
    assert (split.ort_intra_op_threads, split.ort_quality_intra_op_threads) == (3, 2)
    served = Settings().ort_quality_intra_op_threads
    assert offline_runtime(warmup=False).settings.ort_quality_intra_op_threads == served
