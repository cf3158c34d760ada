"""Reading ``reports/performance.json`` back: what each section is, what it measured and on what, and its headline rows.

A section is one benchmark run (``update_performance``). Its kind follows from its layout; its model, commit, date,
machine and load average are read only from what the run recorded: older runs recorded less, and those facts are
then "not recorded", never filled in. The one inference allowed is the model named by a section's name (given with
``--section`` when the run was made), and it is labelled as such wherever it is shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiqa.evaluate.select import COST_SHARE
from loadtests.bench_quality import REFERENCE
from loadtests.paired import interval_text
from loadtests.report import PERFORMANCE_JSON
from service.registry import Registry
from service.settings import Settings

NOT_RECORDED = "not recorded"
# kind -> (keys whose presence makes a section that kind), checked in this order
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("measures", ("faces",)),  # before "quality": both hold rows
    ("settings", ("variants",)),  # before "quality": both hold rows
    ("score", ("results",)),
    ("profile", ("parts_percent",)),
    ("soak", ("windows",)),
    ("backends", ("triton",)),
    ("quality", ("rows",)),
    ("models", ("raw", "efficiency", "batching", "large_frame")),
)
# Kinds whose runs, before they recorded their date and commit, read the machine only after measuring
MACHINE_READ_AFTER = ("quality", "backends", "profile")
# Targets that the runs do not record beside their figures (gateway efficiency records its own)
SOAK_TARGET = "0 errors; RSS growth < 5 %"  # loadtests/soak.py
MEASURES_TARGET = "≤ 8 ms per face"  # issue 16: the default measures of a profile, batch 1, on this 2-core CPU


def default_models() -> list[str]:
    """The code's default models (``service/settings.py``), whatever ``FIQA_DEFAULT_MODELS`` the caller has set."""
    return list(Settings.model_fields["default_models"].default)


def load(path: Path = PERFORMANCE_JSON) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text())


def kind(name: str, section: dict[str, Any]) -> str:
    for label, keys in KINDS:
        if any(key in section for key in keys):
            return label
    raise ValueError(f"performance.json section {name!r}: no renderer knows its layout (keys {sorted(section)})")


@dataclass(frozen=True)
class Model:
    """The default models a section ran with, and where that fact comes from."""

    names: list[str] | None
    source: str

    def text(self) -> str:
        if self.names is None:
            return f"model {NOT_RECORDED}"
        models = ", ".join(f"`{name}`" for name in self.names)
        label = "model" if len(self.names) == 1 else "models"
        return f"{label} {models}" + (f" ({self.source})" if self.source else "")


def model(name: str, section: dict[str, Any], cards: list[str]) -> Model:
    """From the run's record; else from ``FIQA_DEFAULT_MODELS`` in the environment it recorded; else from a section
    name ending in a model card's name; else not recorded."""
    if kind(name, section) == "quality":  # every method, one row each
        return Model([row["method"] for row in section["rows"]], "each row names its method")
    if section.get("models"):
        return Model(section["models"], "")
    if section.get("settings", {}).get("models"):
        return Model(section["settings"]["models"], "")
    env = section.get("settings_env") or section.get("env") or {}
    if isinstance(env, dict) and "FIQA_DEFAULT_MODELS" in env:
        return Model(json.loads(env["FIQA_DEFAULT_MODELS"]), "from the `FIQA_DEFAULT_MODELS` it ran with")
    for card in sorted(cards, key=len, reverse=True):
        if name.endswith(f"_{card}"):
            return Model([card], "from the section's name; the run did not record its model")
    return Model(None, "")


def is_default(name: str, section: dict[str, Any], cards: list[str], default: list[str]) -> bool:
    return model(name, section, cards).names == default


def card_names() -> list[str]:
    """The model cards in the code's models directory: the names a section's name may end with."""
    return list(Registry(Settings.model_fields["models_dir"].default).cards)


def _loadavg(values: list[str] | None) -> str:
    return " / ".join(values) if values else NOT_RECORDED


def commit_text(section: dict[str, Any]) -> str:
    commit = section.get("commit")
    if not commit:
        return f"commit {NOT_RECORDED}"
    return f"commit `{commit[:12]}`" + (" with uncommitted changes" if section.get("dirty") else "")


def machine_text(section: dict[str, Any]) -> str:
    machine = section.get("machine")
    if not machine:
        return f"machine {NOT_RECORDED}"
    parts = (
        machine.get("cpu"),
        f"{machine['cores']} cores" if machine.get("cores") else "",
        f"Python {machine['python']}" if machine.get("python") else "",
        f"onnxruntime {machine['onnxruntime']}" if machine.get("onnxruntime") else "",
    )
    return ", ".join(part for part in parts if part)


def load_text(name: str, section: dict[str, Any]) -> str:
    """Load average (1 / 5 / 15 min) at the start -> the end of the run, as far as it was read."""
    loadavg = (section.get("machine") or {}).get("loadavg")
    if "date" not in section and kind(name, section) in MACHINE_READ_AFTER:
        return f"load average {_loadavg(loadavg)} at the end (at the start {NOT_RECORDED})"
    return f"load average {_loadavg(loadavg)} → {_loadavg(section.get('loadavg_after'))}"


def provenance_text(name: str, section: dict[str, Any], cards: list[str]) -> str:
    """One line: model, commit, date, machine, load average, settings."""
    return " · ".join(
        [
            model(name, section, cards).text(),
            commit_text(section),
            f"date {section.get('date') or NOT_RECORDED}",
            machine_text(section),
            load_text(name, section),
            settings_text(section),
        ]
    )


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"`{key}={v if isinstance(v, str) else json.dumps(v)}`" for key, v in values.items())


def settings_text(section: dict[str, Any]) -> str:
    if "settings" in section:
        return "settings " + _pairs(section["settings"])
    # a settings benchmark records one environment per variant
    env = section["settings_env"] if section.get("settings_env") is not None else section.get("variants")
    if env is not None:
        if env and all(isinstance(value, dict) for value in env.values()):
            return "gateway environments " + "; ".join(f"{label}: {_pairs(v) or 'none'}" for label, v in env.items())
        return f"gateway environment {_pairs(env) or 'without FIQA_* variables'} (else the commit's defaults)"
    if "env" in section:
        given = f"`--env` settings {_pairs(section['env'])}" if section["env"] else "no `--env` settings"
        return f"{given} (FIQA_* variables inherited from the shell {NOT_RECORDED})"
    if "ort_intra_op_threads" in section:
        return f"`ort_intra_op_threads={section['ort_intra_op_threads']}` (other settings {NOT_RECORDED})"
    return f"settings {NOT_RECORDED}"


@dataclass(frozen=True)
class Headline:
    """One summary row: what was measured, the figure as recorded, the target where there is one."""

    what: str
    figure: str
    target: str = ""


def _latency(level: dict[str, Any]) -> str:
    latency = level["latency_ms"]
    return (
        f"p50 {latency['p50']} ms, p95 {latency['p95']} ms, {level['throughput_rps']} req/s, {level['errors']} errors"
    )


def quality_headlines(section: dict[str, Any], method: str) -> list[Headline]:
    """``method``'s cost per face against the reference's, at each batch the run timed, and in multiply-adds."""
    rows = {row["method"]: row for row in section["rows"]}
    if method not in rows or REFERENCE not in rows:
        return []
    row, reference = rows[method], rows[REFERENCE]
    threads = section.get("ort_intra_op_threads", NOT_RECORDED)
    batches = [key.removeprefix("ms/face b") for key in row if key.startswith("ms/face b")]
    figure = "; ".join(
        f"batch {b}: {row[f'ms/face b{b}']} vs {reference[f'ms/face b{b}']} ms ({row[f'share of diffiqa b{b}']})"
        for b in batches
    )
    if row.get("M multiply-adds"):
        figure += (
            f"; {row['M multiply-adds']} vs {reference['M multiply-adds']} M multiply-adds "
            f"({row['share of diffiqa (MACs)']})"
        )
    what = f"quality cost per face, `{method}` vs `{REFERENCE}`, {threads} intra-op thread{'' if threads == 1 else 's'}"
    return [Headline(what, figure, f"multiply-adds ≤ 1/{round(1 / COST_SHARE)}")]


def _score(section: dict[str, Any]) -> list[Headline]:
    return [Headline(f"`/score`, concurrency {r['concurrency']}", _latency(r)) for r in section["results"]]


def _efficiency(section: dict[str, Any]) -> list[Headline]:
    return [
        Headline(
            f"gateway efficiency, concurrency {row['concurrency']}",
            f"{row['efficiency']} ({row['/score img/s']} vs {row['raw models img/s']} img/s)",
            row.get("target", ""),
        )
        for row in section.get("efficiency", {}).get("rows", [])
    ]


def _batching(section: dict[str, Any]) -> list[Headline]:
    return [
        Headline(f"micro-batching on vs off, concurrency {row['concurrency']}", f"{row['gain']} req/s")
        for row in section["batching"]["rows"]
    ]


def _backends(section: dict[str, Any]) -> list[Headline]:
    return [
        Headline(
            f"{row['backend']}, concurrency {row['concurrency']}",
            f"p50 {row['p50 ms']} ms, {row['req/s']} req/s, {row['errors']} errors",
        )
        for row in section["rows"]
    ]


def _settings(section: dict[str, Any]) -> list[Headline]:
    choice = section["choice"]
    top = max(row["concurrency"] for row in section["rows"])
    rows = {(row["variant"], row["concurrency"]): row for row in section["rows"]}
    chosen, current = rows[choice["chosen"], top], rows[choice["current"], top]
    figure = f"`{choice['chosen']}` (the defaults the run compared with: `{choice['current']}`)"
    if choice["chosen"] != choice["current"]:
        single = rows[choice["chosen"], 1]
        figure += (
            f": {chosen['req/s']} vs {current['req/s']} req/s at concurrency {top}, paired difference "
            f"{interval_text(chosen['req/s vs current'])} req/s; p50 at concurrency 1 "
            f"{interval_text(single['p50 vs current'], 100.0, ' %')}"
        )
    return [Headline("CPU workers : intra-op threads (: quality networks'), chosen by `bench_settings`'s rule", figure)]


def _soak(section: dict[str, Any]) -> list[Headline]:
    summary = section["summary"]
    what = f"soak, {section.get('duration_s', NOT_RECORDED)} s at {section['rate_rps']} req/s"
    figure = f"{summary['requests']} requests, {summary['errors']} errors, RSS growth {section['rss_growth_percent']} %"
    return [Headline(what, figure, SOAK_TARGET)]


def _measures(section: dict[str, Any]) -> list[Headline]:
    threads = section.get("threads", NOT_RECORDED)
    return [
        Headline(
            f"component measures per face, {row['measures']}, batch 1, {threads} threads",
            f"{row['ms/face b1']} ms ({row['count']} measures; networks: {row['networks']})",
            MEASURES_TARGET if row["measures"].startswith("default") else "",
        )
        for row in section["rows"]
    ]


@dataclass(frozen=True)
class Chapter:
    """A part of the report: the sections of one kind that hold ``parts`` (any of them; empty: every one), and how
    a summary quotes one of them (None: no single figure to quote, as for a profile or the large-frame table).
    ``model_free``: its figures do not depend on the quality model (the component measures), so a summary quotes
    its runs whatever model they ran beside."""

    key: str
    title: str
    kind: str
    parts: tuple[str, ...] = ()
    headlines: Callable[[dict[str, Any]], list[Headline]] | None = None
    model_free: bool = False


CHAPTERS = (
    Chapter("score", "`/score` latency and throughput", "score", (), _score),
    Chapter("quality", "Quality methods: cost per face", "quality"),
    Chapter("efficiency", "Raw models and gateway efficiency", "models", ("raw", "efficiency"), _efficiency),
    Chapter("batching", "Micro-batching on vs off", "models", ("batching",), _batching),
    Chapter("large", "Large frames: reduced-size JPEG decoding", "models", ("large_frame",)),
    Chapter("backends", "Backends: embedded onnxruntime vs Triton", "backends", (), _backends),
    Chapter("profile", "Hot path profile", "profile"),
    Chapter("soak", "Soak", "soak", (), _soak),
    Chapter("measures", "Component measures: cost per face", "measures", (), _measures, model_free=True),
    Chapter("settings", "CPU settings: executor workers and intra-op threads", "settings", (), _settings),
)


def chapter_sections(
    report: dict[str, dict[str, Any]], chapter: Chapter, cards: list[str], default: list[str]
) -> list[str]:
    """The sections a chapter shows: runs of the default model first, then in the JSON's order."""
    names = [
        name
        for name, section in report.items()
        if kind(name, section) == chapter.kind and (not chapter.parts or any(p in section for p in chapter.parts))
    ]
    return sorted(names, key=lambda name: not is_default(name, report[name], cards, default))


def summary(
    report: dict[str, dict[str, Any]], cards: list[str], default: list[str]
) -> tuple[list[tuple[str, Headline]], list[str]]:
    """The rows a summary may quote, (section, headline), all of the current default: the runs made with it, and
    its own row of every quality-cost run. Also the chapters that hold no run of the default."""
    quoted: list[tuple[str, Headline]] = []
    missing: list[str] = []
    for number, chapter in enumerate(CHAPTERS, start=1):
        names = chapter_sections(report, chapter, cards, default)
        rows = []
        measured = False
        for name in names:
            if chapter.key == "quality":
                rows += [(name, line) for line in quality_headlines(report[name], default[0])]
                measured = measured or bool(rows)
            elif chapter.model_free or is_default(name, report[name], cards, default):
                rows += [(name, line) for line in (chapter.headlines(report[name]) if chapter.headlines else [])]
                measured = True
        quoted += rows
        if not measured:
            missing.append(f"{chapter.title.split(':')[0].lower()} (§{number}{'' if names else ', no run at all'})")
    return quoted, missing
