"""``reports/performance.md`` and the README's performance block are what ``python -m loadtests.performance_report``
renders from ``reports/performance.json``; each run names what it was measured on, and the summary quotes only the
current default's runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtests import performance_report, readme_block
from loadtests.sections import summary

REPO = Path(__file__).resolve().parents[2]
CARDS = ["model_now", "model_before"]
DEFAULT = ["model_now"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_performance_md_is_what_the_command_renders_from_the_json() -> None:
    assert performance_report.PERFORMANCE_MD.read_text() == performance_report.current(), (
        "run `python -m loadtests.performance_report` after changing reports/performance.json"
    )


def test_readme_performance_block_is_what_the_command_renders_from_the_json() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(readme_block.BEGIN) : readme.index(readme_block.END) + len(readme_block.END)]
    assert block == readme_block.current(), "run `python -m loadtests.performance_report`"


def _score(p50: float, **record: Any) -> dict[str, Any]:
    """A ``bench_score`` section as the benchmark writes it, with ``record`` for its provenance."""
    level = {
        "concurrency": 1,
        "requests": 100,
        "ok": 100,
        "throughput_rps": 9.5,
        "latency_ms": {"p50": p50, "p95": p50 + 1, "p99": p50 + 2, "max": p50 + 3, "mean": p50},
        "errors": 0,
        "stages_ms": {"detect": 1.5, "total": 2.5},
        "overhead_ratio": {"median": 0.1, "mean": 0.1},
    }
    return {"image": "a test frame", "duration_s": 5.0, "results": [level], **record}


def _soak(**record: Any) -> dict[str, Any]:
    summary = {"requests": 60, "ok": 60, "throughput_rps": 1.0, "errors": 0, "status": {"200": 60}}
    summary["latency_ms"] = {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0, "mean": 1.5}
    window = {"window s": "0-60", "sent": 60, "errors": 0, "p50 ms": 1.0, "RSS MiB": 100.0}
    return {
        "rate_rps": 1.0,
        "fraction_of_max": 0.7,
        "probe": None,
        "summary": summary,
        "windows": [window],
        "rss_start_mib": 100.0,
        "rss_end_mib": 101.0,
        "rss_peak_mib": 102.0,
        "rss_growth_percent": 1.0,
        "duration_s": 60.0,
        **record,
    }


NEW_RECORD = {
    "commit": COMMIT,
    "dirty": False,
    "date": "2026-12-02T20:00:00+00:00",
    "machine": {"cpu": "Test CPU", "cores": 3, "python": "3.11.7", "onnxruntime": "1.0", "loadavg": ["0.1"] * 3},
    "loadavg_after": ["0.9", "0.5", "0.4"],
    "settings_env": {"FIQA_MAX_WAIT_MS": "0"},
}
REPORT = {
    "score_now": _score(11.11, models=DEFAULT, **NEW_RECORD),
    "score_before": _score(22.22, models=["model_before"], **NEW_RECORD),
    "score_old": _score(33.33, machine={"cpu": "Old CPU", "cores": 2, "loadavg": ["1", "2", "3"]}, env={}),
    "soak_before": _soak(models=["model_before"], **NEW_RECORD),
}


def _section(markdown: str, name: str) -> str:
    """The text of one run's subsection in the rendered report."""
    start = markdown.index(f"### `{name}`")
    following = [i for i in (markdown.find("\n## ", start), markdown.find("\n### ", start + 1)) if i >= 0]
    return markdown[start : min(following)]


def test_each_run_names_its_model_commit_date_machine_and_load() -> None:
    markdown = performance_report.render(REPORT, CARDS, DEFAULT)
    now = _section(markdown, "score_now")
    assert "(current default)" in now.splitlines()[0]
    for fact in ("model `model_now`", f"commit `{COMMIT[:12]}`", "date 2026-12-02T20:00:00+00:00", "Test CPU, 3 cores"):
        assert fact in now
    assert "load average 0.1 / 0.1 / 0.1 → 0.9 / 0.5 / 0.4" in now and "`FIQA_MAX_WAIT_MS=0`" in now
    assert "| 1 | 100 | 9.5 | 11.11 | 12.11 | 13.11 |" in now


def test_what_a_run_did_not_record_is_said_never_filled_in() -> None:
    old = _section(performance_report.render(REPORT, CARDS, DEFAULT), "score_old")
    assert "model not recorded" in old and "commit not recorded" in old and "date not recorded" in old
    assert "load average 1 / 2 / 3 → not recorded" in old
    assert "FIQA_* variables inherited from the shell not recorded" in old


def test_the_model_comes_only_from_what_the_run_wrote() -> None:
    report = {
        "bench_score_model_now": _score(1.0),  # named with --section: said, and said where it comes from
        "with_env": _score(2.0, env={"FIQA_DEFAULT_MODELS": '["model_before"]'}),
        "bench_score_other": _score(3.0),  # no card of that name: not recorded
    }
    markdown = performance_report.render(report, CARDS, DEFAULT)
    assert "model `model_now` (from the section's name" in _section(markdown, "bench_score_model_now")
    assert "model `model_before` (from the `FIQA_DEFAULT_MODELS`" in _section(markdown, "with_env")
    assert "model not recorded" in _section(markdown, "bench_score_other")


def test_the_summary_quotes_only_runs_of_the_current_default() -> None:
    quoted, missing = summary(REPORT, CARDS, DEFAULT)
    assert {name for name, _ in quoted} == {"score_now"}
    assert any(name.startswith("soak") for name in missing)
    markdown = performance_report.render(REPORT, CARDS, DEFAULT)
    head = markdown[: markdown.index("## 1.")]
    assert "p50 11.11 ms" in head and "22.22" not in head and "33.33" not in head
    # the former default's runs stay in their chapters, labelled with their model
    assert "model `model_before`" in _section(markdown, "score_before")
    assert "model `model_before`" in _section(markdown, "soak_before")


def test_the_readme_block_quotes_the_default_with_its_model_and_commit() -> None:
    block = readme_block.render(REPORT, CARDS, DEFAULT)
    assert block.startswith(readme_block.BEGIN) and block.endswith(readme_block.END)
    assert "run `score_now` (model `model_now`; commit `0123456789ab`" in block and "p50 11.11 ms" in block
    assert "22.22" not in block and "33.33" not in block
    assert "soak (§8)" in block


def test_a_section_no_renderer_knows_fails_loudly() -> None:
    with pytest.raises(ValueError, match="new_benchmark"):
        performance_report.render({"new_benchmark": {"figures": [1, 2]}}, CARDS, DEFAULT)


def test_the_command_writes_the_report_and_the_readme_block(tmp_path: Path) -> None:
    (tmp_path / "performance.json").write_text(json.dumps(REPORT))
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{readme_block.BEGIN}\nold figures\n{readme_block.END}\nafter\n")
    argv = ["--json", str(tmp_path / "performance.json"), "--md", str(tmp_path / "p.md"), "--readme", str(readme)]
    assert performance_report.main(argv) == 0
    assert (tmp_path / "p.md").read_text() == performance_report.current(tmp_path / "performance.json")
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "old figures" not in text
    assert readme_block.current(tmp_path / "performance.json") in text


def test_the_summary_quotes_component_measures_whatever_model_ran_beside_them() -> None:
    """The measures' cost does not depend on the quality model: a run that recorded none is still quoted, with the
    target beside the profiles' default sets only."""
    rows = [
        {"measures": "default (enrolment)", "count": 18, "networks": "emotion, facemesh", "ms/face b1": 6.5},
        {"measures": "all", "count": 25, "networks": "emotion, facemesh, selfie", "ms/face b1": 11.0},
    ]
    report = {**REPORT, "bench_measures": {"commit": COMMIT, "threads": 2, "faces": 24, "rows": rows}}
    quoted, missing = summary(report, CARDS, DEFAULT)
    measures = [headline for name, headline in quoted if name == "bench_measures"]
    assert [(h.figure.split(" ms")[0], bool(h.target)) for h in measures] == [("6.5", True), ("11.0", False)]
    assert not any("measures" in chapter for chapter in missing)


def test_a_settings_run_shows_its_paired_differences_and_its_choice() -> None:
    interval = {"mean": 4.1, "low": 1.2, "high": 7.0}
    faster = {"mean": -0.06, "low": -0.1, "high": -0.02}
    rows = [
        {"variant": v, "concurrency": c, "rounds": 5, "req/s": rps, "p50 ms": p50, "errors": 0, **diffs}
        for v, c, rps, p50, diffs in (
            ("2:2", 1, 35.0, 28.0, {"req/s vs current": {}, "p50 vs current": {}}),
            ("3:1", 1, 37.0, 26.3, {"req/s vs current": interval, "p50 vs current": faster}),
            ("2:2", 8, 55.5, 140.0, {"req/s vs current": {}, "p50 vs current": {}}),
            ("3:1", 8, 59.6, 130.0, {"req/s vs current": interval, "p50 vs current": interval}),
        )
    ]
    choice = {"current": "2:2", "chosen": "3:1", "qualified": ["3:1"], "rule": "the stated rule"}
    section = {
        "commit": COMMIT,
        "models": DEFAULT,
        "variants": {"2:2": {"FIQA_CPU_WORKERS": "2"}, "3:1": {"FIQA_CPU_WORKERS": "3"}},
        "rounds": 5,
        "duration_s": 12.0,
        "rows": rows,
        "choice": choice,
    }
    report = {**REPORT, "bench_settings": section}
    quoted, _ = summary(report, CARDS, DEFAULT)
    [headline] = [h for name, h in quoted if name == "bench_settings"]
    assert "`3:1` (the defaults the run compared with: `2:2`)" in headline.figure
    assert "59.6 vs 55.5 req/s" in headline.figure
    assert "+4.10 [+1.20, +7.00] req/s; p50 at concurrency 1 -6.00 % [-10.00, -2.00]" in headline.figure
    text = _section(performance_report.render(report, CARDS, DEFAULT), "bench_settings")
    assert "| 2:2 | 8 | 5 | 55.5 | 140.0 | 0 | (current) | (current) |" in text
    assert "Rule: the stated rule. Qualified: `3:1`. Chosen: `3:1`" in text
    assert "3:1: `FIQA_CPU_WORKERS=3`" in text


def test_a_paired_batching_run_shows_its_rounds_and_its_intervals() -> None:
    row = {
        "concurrency": 8,
        "rounds": 10,
        "on req/s": 50.0,
        "off req/s": 48.0,
        "gain": "+2.00 [+0.50, +3.50]",
        "on p50 ms": 150.0,
        "off p50 ms": 160.0,
        "p50 on vs off": "-6.00 % [-9.00, -3.00]",
        "errors on/off": "0/0",
    }
    configs = {"on": {}, "off": {"FIQA_MAX_BATCH_SIZE": "2"}}
    section = {"commit": COMMIT, "models": DEFAULT, "batching": {"configs": configs, "rounds": 10, "burst_s": 3.0}}
    section["batching"]["rows"] = [row]
    report = {**REPORT, "bench_models": section}
    quoted, _ = summary(report, CARDS, DEFAULT)
    [headline] = [h for name, h in quoted if name == "bench_models"]
    assert headline.what == "micro-batching on vs off, concurrency 8"
    assert headline.figure == "+2.00 [+0.50, +3.50] req/s"
    text = _section(performance_report.render(report, CARDS, DEFAULT), "bench_models")
    assert "on: the defaults; off: `FIQA_MAX_BATCH_SIZE=2`. 10 rounds of 3.0 s bursts." in text
    assert "| 8 | 10 | 50.0 | 48.0 | +2.00 [+0.50, +3.50] | 150.0 | 160.0 | -6.00 % [-9.00, -3.00] | 0/0 |" in text
