"""reports/detector.md is what ``loadtests.detector_report`` renders from reports/detector.json, and the code's
detector default is the path the recorded run chose."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtests.bench_detector import DETECTOR_JSON
from loadtests.detector_report import DETECTOR_MD, current, main, render, rule_text
from service.settings import Settings


def test_detector_md_is_what_the_command_renders_from_the_json() -> None:
    assert DETECTOR_MD.read_text() == current(DETECTOR_JSON), "run: python -m loadtests.detector_report"


def test_the_default_detector_path_is_the_one_the_recorded_run_chose() -> None:
    report = json.loads(DETECTOR_JSON.read_text())
    chosen = report["candidates"][report["choice"]["chosen"]]
    defaults = {name: Settings.model_fields[name].default for name in chosen}
    assert defaults == chosen


def test_the_default_frame_decode_is_the_one_the_recorded_run_chose() -> None:
    chosen = json.loads(DETECTOR_JSON.read_text())["decode"]["choice"]["chosen"]
    assert {name: Settings.model_fields[name].default for name in chosen} == chosen


def _level(path: str, concurrency: int, p50: float, rps: float) -> dict[str, Any]:
    return {
        "path": path,
        "concurrency": concurrency,
        "throughput_rps": rps,
        "latency_ms": {"p50": p50, "p95": p50 * 2},
        "stages_ms": {"detect": 5.0},
        "errors": 0,
        "loadavg_before": ["1.00", "1.00", "1.00"],
        "loadavg_after": ["2.00", "1.00", "1.00"],
    }


def test_the_targets_are_judged_from_the_recorded_levels() -> None:
    report = {
        "model": "m",
        "commit": "abc",
        "machine": {"cpu": "cpu", "loadavg": ["1.00", "1.00", "1.00"]},
        "candidates": {"full": {"detector_mode": "full"}},
        "timing": [{"path": "full", "640x480 ms": 30.0}],
        "score": {
            "paths": ["full", "fast"],
            "duration_s": 1.0,
            "levels": [_level("full", 1, 30.0, 30.0), _level("fast", 1, 14.0, 60.0), _level("fast", 8, 20.0, 71.0)],
        },
    }
    markdown = render(report)
    lines = [line for line in markdown.splitlines() if "p50 ≤" in line or "req/s:" in line]  # the /score rows
    assert "not met" in lines[0] and ": met" in lines[1] and ": met" in lines[2]
    assert rule_text() in markdown
    assert "date not recorded" in markdown and "→ not recorded" in markdown


def test_the_command_writes_the_report(tmp_path: Path) -> None:
    md = tmp_path / "detector.md"
    assert main(["--json", str(DETECTOR_JSON), "--md", str(md)]) == 0
    assert md.read_text() == current(DETECTOR_JSON)
