"""The README's performance block: figures of the current default model from ``reports/performance.json``.

The text between ``<!-- performance:begin -->`` and ``<!-- performance:end -->`` is written only by
``python -m loadtests.performance_report`` (``tests/loadtests/test_performance_report.py`` fails when it differs),
so the README quotes no figure the JSON does not hold, and names the run, model and commit of each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.report import PERFORMANCE_JSON
from loadtests.sections import (
    NOT_RECORDED,
    card_names,
    commit_text,
    default_models,
    kind,
    load,
    load_text,
    machine_text,
    model,
    summary,
)

BEGIN, END = "<!-- performance:begin -->", "<!-- performance:end -->"


def _run(name: str, section: dict[str, Any], cards: list[str]) -> str:
    """Model (a quality-cost row names its own), commit, date, machine and load average of one run."""
    date = f"date {section.get('date') or NOT_RECORDED}"
    facts = [commit_text(section), date, machine_text(section), load_text(name, section)]
    return "; ".join(facts if kind(name, section) == "quality" else [model(name, section, cards).text(), *facts])


def render(report: dict[str, dict[str, Any]], cards: list[str], default: list[str]) -> str:
    quoted, missing = summary(report, cards, default)
    models = ", ".join(f"`{name}`" for name in default)
    out = [
        BEGIN,
        "",
        f"Figures of the current default {models} as `reports/performance.json` records them (this block and "
        "[`reports/performance.md`](reports/performance.md) are written by `python -m loadtests.performance_report`; "
        "the report has every run, each with its model, commit, machine and load average):",
        "",
    ]
    runs = {name: [line for run, line in quoted if run == name] for name, _ in quoted}
    out += [
        f"- run `{name}` ({_run(name, report[name], cards)}): "
        + "; ".join(f"{line.what}: {line.figure}" for line in lines)
        + "."
        for name, lines in runs.items()
    ]
    if not quoted:
        out.append("- no run of the current default is recorded.")
    if missing:
        out += ["", f"Not measured with {models} yet: {'; '.join(missing)} of the report."]
    return "\n".join([*out, "", END])


def current(path: Path = PERFORMANCE_JSON) -> str:
    """The block the JSON at ``path`` calls for."""
    return render(load(path), card_names(), default_models())
