"""``python -m loadtests.performance_report``: ``reports/performance.md`` and the README's performance block, both
rendered from ``reports/performance.json`` alone.

Nothing in either file is typed by hand: every figure is a value of the JSON, every section names the model,
commit, date, machine and load average its run recorded ("not recorded" where it did not), and the summary quotes
only runs of the code's current default model. ``tests/loadtests/test_performance_report.py`` fails when a file
differs from what this command renders, so run it after any benchmark.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiqa.evaluate.summary import replaced
from loadtests import readme_block
from loadtests.paired import interval_text
from loadtests.report import PERFORMANCE_JSON, REPO, markdown_table
from loadtests.sections import (
    CHAPTERS,
    NOT_RECORDED,
    card_names,
    chapter_sections,
    default_models,
    is_default,
    load,
    provenance_text,
    summary,
)

PERFORMANCE_MD = PERFORMANCE_JSON.with_suffix(".md")
# Where the last hand-typed report can still be read (its figures without a section are listed as not regenerated)
HAND_TYPED = "git show 150b4ff:reports/performance.md"


def _levels(levels: list[dict[str, Any]]) -> list[str]:
    """Closed-loop ``/score`` levels: throughput, latency, overhead, then the mean time per stage."""
    rows = [
        {
            "concurrency": level["concurrency"],
            "requests": level["requests"],
            "req/s": level["throughput_rps"],
            **{f"{key} ms": level["latency_ms"][key] for key in ("p50", "p95", "p99")},
            "overhead (median)": level.get("overhead_ratio", {}).get("median", ""),
            "errors": level["errors"],
        }
        for level in levels
    ]
    stages = sorted({stage for level in levels for stage in level.get("stages_ms", {})})
    columns = [f"c={level['concurrency']}" for level in levels]
    stage_rows = [
        {
            "stage (mean ms)": stage,
            **{c: level["stages_ms"].get(stage, "") for c, level in zip(columns, levels, strict=True)},
        }
        for stage in stages
    ]
    out = [markdown_table(rows, list(rows[0]))]
    if stage_rows:
        out += ["", markdown_table(stage_rows, ["stage (mean ms)", *columns])]
    return out


def _table(rows: list[dict[str, Any]]) -> list[str]:
    return [markdown_table(rows, list(rows[0]))] if rows else []


def _score(section: dict[str, Any]) -> list[str]:
    image = section.get("image", NOT_RECORDED)
    return [f"Image: {image}; {section.get('duration_s', NOT_RECORDED)} s per level.", "", *_levels(section["results"])]


def _quality(section: dict[str, Any]) -> list[str]:
    return _table(section["rows"])


def _raw_and_efficiency(section: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "raw" in section:
        out += ["Raw onnxruntime, detector:", "", *_table(section["raw"]["detector"]), ""]
        out += ["Quality networks:", "", *_table(section["raw"]["quality_networks"]), ""]
    if "efficiency" in section:
        out += ["Gateway efficiency:", "", *_table(section["efficiency"]["rows"]), ""]
        out += ["The `/score` runs it compares:", "", *_levels(section["efficiency"]["score_levels"])]
    return out


def _batching(section: dict[str, Any]) -> list[str]:
    configs = "; ".join(
        f"{name}: " + (", ".join(f"`{k}={v}`" for k, v in env.items()) or "the defaults")
        for name, env in section["batching"]["configs"].items()
    )
    batching = section["batching"]
    design = f" {batching['rounds']} rounds of {batching['burst_s']} s bursts." if "rounds" in batching else ""
    return [f"Settings: {configs}.{design}", "", *_table(batching["rows"])]


def _large(section: dict[str, Any]) -> list[str]:
    return _table(section["large_frame"])


def _backends(section: dict[str, Any]) -> list[str]:
    return [
        f"Path: {section.get('path', NOT_RECORDED)}; {section.get('duration_s', NOT_RECORDED)} s per level.",
        "",
        *_table(section["rows"]),
        "",
        "Triton's own statistics over the run (warm-up included):",
        "",
        *_table(section["triton"]),
    ]


def _profile(section: dict[str, Any]) -> list[str]:
    parts = [{"part": part, "% of busy samples": share} for part, share in section["parts_percent"].items()]
    return [
        f"Concurrency {section.get('concurrency', NOT_RECORDED)}; {section['samples']} busy samples.",
        "",
        *_table(parts),
    ]


def _soak(section: dict[str, Any]) -> list[str]:
    summary, latency, probe = section["summary"], section["summary"]["latency_ms"], section.get("probe")
    probe_text = f"closed-loop probe {probe['throughput_rps']} req/s, " if probe else ""
    return [
        f"Mix `{section.get('mix', NOT_RECORDED)}`; {probe_text}fraction {section.get('fraction_of_max')}, "
        f"open loop at {section['rate_rps']} req/s for {section.get('duration_s', NOT_RECORDED)} s.",
        "",
        *_table(section["windows"]),
        "",
        f"{summary['requests']} requests, {summary['errors']} errors; p50/p95/p99/max {latency['p50']}/"
        f"{latency['p95']}/{latency['p99']}/{latency['max']} ms. RSS {section['rss_start_mib']} MiB after the "
        f"warm-up load → {section['rss_end_mib']} MiB at the end ({section['rss_growth_percent']} %), peak "
        f"{section['rss_peak_mib']} MiB.",
    ]


def settings_table(section: dict[str, Any]) -> list[str]:
    """A settings run: its rows with the paired differences, the rule and the choice (also printed by the run)."""
    choice = section["choice"]

    def versus(row: dict[str, Any], key: str, scale: float = 1.0, unit: str = "") -> str:
        return "(current)" if row["variant"] == choice["current"] else interval_text(row[key], scale, unit)

    rows = [
        {
            **{key: row[key] for key in ("variant", "concurrency", "rounds", "req/s", "p50 ms", "errors")},
            "req/s vs current": versus(row, "req/s vs current"),
            "p50 vs current": versus(row, "p50 vs current", 100.0, " %"),
        }
        for row in section["rows"]
    ]
    qualified = ", ".join(f"`{name}`" for name in choice["qualified"]) or "none"
    return [
        "Variants `cpu_workers:ort_intra_op_threads[:ort_quality_intra_op_threads]` (without the third, the quality "
        f"networks take the second); {section['rounds']} rounds of {section['duration_s']} s per "
        "level and variant. Differences are paired by round against the current setting, mean [95 % t-interval].",
        "",
        *_table(rows),
        "",
        f"Rule: {choice['rule']}. Qualified: {qualified}. Chosen: `{choice['chosen']}` (current "
        f"`{choice['current']}`).",
    ]


# What each chapter's benchmark does (method only, never a figure) and how a run of it is drawn
CHAPTER_TEXT: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
    "score": (
        "`python -m loadtests.bench_score` (`make bench`): a real gateway (uvicorn on a free loopback port), closed "
        "loop at each concurrency. Overhead = (end-to-end − `detect_infer` − `quality_infer`) / end-to-end, per "
        "request, median. Stages are means of the responses' `timings_ms` (work, not wall time).",
        _score,
    ),
    "quality": (
        "`python -m loadtests.bench_quality [--threads 1]`: each method's `prepare` + inference of all its rows + "
        "`postprocess` in the gateway's own sessions, per face at each batch, median over interleaved rounds; "
        "multiply-adds counted from each card's network (`fiqa/evaluate/cost.py`).",
        _quality,
    ),
    "efficiency": (
        "`python -m loadtests.bench_models`: raw onnxruntime in sessions built as the gateway builds them; "
        "efficiency = `/score` images/s ÷ raw-model images/s for the same work (the detector inference of the "
        "configured path, one pass or the fast path's two, + one face's quality rows; at saturation the raw side "
        "batches the rows of several faces).",
        _raw_and_efficiency,
    ),
    "batching": (
        '`python -m loadtests.bench_models`: one gateway per setting, closed loop at each concurrency; "off" '
        "limits a batch to one face's rows. A run that records its rounds measured both side by side in rounds of "
        "short bursts in rotating order (`loadtests/paired.py`); its gain is on − off in req/s, paired by round, "
        "mean [95 % t-interval]. Earlier runs measured one window per level and setting in sequence; their gain is "
        "a ratio of two windows, within the machine's drift.",
        _batching,
    ),
    "large": (
        "`python -m loadtests.bench_models`: decode + detect of one-face JPEGs, full decode + resize vs an extra "
        "libjpeg DCT-scaled decode for the detector, interleaved rounds.",
        _large,
    ),
    "backends": (
        "`python -m loadtests.bench_backends` (`make triton-env`): a real `tritonserver` with Python-backend twins "
        "of the ONNX models and two real gateways, closed loop.",
        _backends,
    ),
    "profile": (
        "`python -m loadtests.profile_score`: py-spy samples of every thread of a real gateway under load, grouped "
        "by pipeline part.",
        _profile,
    ),
    "settings": (
        "`python -m loadtests.bench_settings`: one gateway per variant of the executor's workers and the "
        "intra-op threads of the detector's and the quality networks' sessions, side by side in rounds of short "
        "bursts in rotating order (`loadtests/paired.py`), so the machine's drift hits them alike.",
        settings_table,
    ),
    "soak": (
        "`python -m loadtests.soak --duration 600 --fraction 0.7 --warmup 60 --window 60`: a realistic mix, open "
        "loop at a fraction of the rate a closed-loop probe reached; memory is the gateway's RSS from the end of "
        "the warm-up to the end.",
        _soak,
    ),
    "measures": (
        "`python -m loadtests.bench_measures`: the component measures of `service/measures` on real aligned faces, "
        "per face at batch 1, each set (a profile's defaults, all) timed whole.",
        _quality,
    ),
}

NOT_REGENERATED = (
    f"The hand-typed report this file replaced (`{HAND_TYPED}`) also held the following, which no section of "
    "`performance.json` records; they are not reproduced here:",
    "",
    "- the machine's memory, GPU and onnxruntime version (runs record the onnxruntime version from now on);",
    "- in the hot-path chapter, a second concurrency-8 profile (the one in the JSON is an earlier run), the "
    "warm-up arena micro-test and the timing of DifFIQA's in-place `prepare`;",
    "- in the large-frames chapter, a spot check of the 12 MP decode alone;",
    "- the readings written around the tables (what bounds throughput, why batching does not pay on two cores, "
    "the Triton hops, the uvicorn worker advice): interpretations of particular runs, which a new run could "
    "contradict.",
)

COMMANDS = """```sh
make bench                                                    # = python -m loadtests.bench_score (default model)
python -m loadtests.bench_quality --threads 1 --section bench_quality_1thread  # cost per face vs diffiqa
python -m loadtests.bench_quality                             # the same on the gateway's 2 threads
python -m loadtests.bench_models --duration 20 --repeats 10   # raw vs /score, batching on/off, large frames
python -m loadtests.bench_backends --duration 20              # embedded vs Triton (needs `make triton-env`)
python -m loadtests.profile_score --duration 20 --concurrency 8
python -m loadtests.bench_settings                            # CPU workers x intra-op threads, paired rounds
python -m loadtests.soak --duration 600 --fraction 0.7 --warmup 60 --window 60
python -m loadtests.bench_measures                            # component measures per face
python -m loadtests.performance_report                        # then: this file and the README block
```"""


def _summary(report: dict[str, dict[str, Any]], cards: list[str], default: list[str]) -> list[str]:
    quoted, missing = summary(report, cards, default)
    models = ", ".join(f"`{name}`" for name in default)
    rows = [{"what": h.what, "figure": h.figure, "target": h.target, "run": f"`{name}`"} for name, h in quoted]
    out = [
        f"## Summary: the current default {models}",
        "",
        "Only runs recorded with the current default (`service/settings.py`) are quoted here; every other run is in "
        "its chapter below, labelled with its model. Figures of separate runs are not comparable (the machine's "
        "speed drifts): the detector paths are compared in one run, `/score` included, with the issue's targets, "
        "in [`reports/detector.md`](detector.md).",
        "",
        *(_table(rows) or ["No run of the current default is recorded."]),
    ]
    if missing:
        out += ["", f"Not measured with {models} yet (their chapters hold other runs only): {'; '.join(missing)}."]
    return out


def render(report: dict[str, dict[str, Any]], cards: list[str], default: list[str]) -> str:
    """The whole of ``reports/performance.md``."""
    out = [
        "# Performance of the FIQA gateway",
        "",
        "Generated by `python -m loadtests.performance_report` from `reports/performance.json` (one section per "
        "benchmark run); do not edit it by hand. Each run below names its model, commit, date, machine and load "
        'average (1 / 5 / 15 min, at its start → its end) as the run recorded them, and says "not recorded" '
        "where it did not. The machine's speed drifts with its load: compare figures within one run, not across "
        "runs.",
        "",
        *_summary(report, cards, default),
    ]
    for number, chapter in enumerate(CHAPTERS, start=1):
        description, renderer = CHAPTER_TEXT[chapter.key]
        out += ["", f"## {number}. {chapter.title}", "", description]
        names = chapter_sections(report, chapter, cards, default)
        if not names:
            out += ["", "No run recorded."]
        for name in names:
            section = report[name]
            mark = " (current default)" if is_default(name, section, cards, default) else ""
            out += ["", f"### `{name}`{mark}", "", provenance_text(name, section, cards) + ".", "", *renderer(section)]
    out += ["", f"## {len(CHAPTERS) + 1}. Not regenerated", "", *NOT_REGENERATED]
    out += ["", "## Commands", "", COMMANDS]
    return "\n".join(out) + "\n"


def current(path: Path = PERFORMANCE_JSON) -> str:
    """What ``reports/performance.md`` must hold for the JSON at ``path``."""
    return render(load(path), card_names(), default_models())


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, default=PERFORMANCE_JSON, help="the benchmarks' results")
    parser.add_argument("--md", type=Path, default=PERFORMANCE_MD, help="the report to write")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="whose performance block to write")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.performance_report", description=__doc__.split("\n\n")[0])
    configure(parser)
    args = parser.parse_args(argv)
    args.md.write_text(current(args.json))
    block = readme_block.current(args.json)
    args.readme.write_text(replaced(args.readme.read_text(), block, readme_block.BEGIN, readme_block.END))
    print(f"wrote {args.md} and the performance block of {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
