"""The detector benchmark runs on a real tritonserver and records that it did (issue 18: GPU readiness kept honest:
the figures say what ran them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests import bench_detector

pytestmark = pytest.mark.integration


def test_bench_detector_runs_on_triton_and_records_what_served_it(twin_repository: Path, tmp_path: Path) -> None:
    """``twin_repository`` makes sure the Triton environment is installed; the benchmark builds and starts its own."""
    out = tmp_path / "detector.json"
    quick = ["--rounds", "1", "--repeats", "1", "--candidates", "320:192", "--details", "1.5"]
    assert bench_detector.main(["--triton", "--skip", "sets", "decode", "score", *quick, "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["settings"]["backend"] == record["served_by"]["backend"] == "triton"
    networks = record["served_by"]["networks"]
    assert set(networks) == {"centerface", record["model"]}
    assert all(d["runtime"].startswith("triton") and d["triton_backend"] == "python" for d in networks.values())
    assert record["served_by"]["accelerator"] is False  # Triton reports no device: never called a GPU figure
    assert {row["path"] for row in record["timing"]} == {"full", "fast-320-192"}
