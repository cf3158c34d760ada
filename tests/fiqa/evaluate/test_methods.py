"""The report's "Methods as published" table: rows from the JSON with their set and verdict, quoted paper figures
marked as quoted, unmeasured variants saying why, and the committed blocks (report and model READMEs) equal to
what the command renders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from fiqa.evaluate import methods, report
from fiqa.evaluate.methods import (
    BEGIN,
    END,
    MODEL_BEGIN,
    MODEL_END,
    MODELS,
    PUBLISHED,
    ROWS,
    block,
    model_block,
    render,
    render_model,
)

REPO = Path(__file__).resolve().parents[3]


def _area(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "low": low, "high": high}


def _evaluation() -> dict[str, Any]:
    large = {"pauc_0.3": _area(0.78, 0.74, 0.82), "vs_diffiqa": {"pauc_0.3": _area(-0.001, -0.027, 0.025)}}
    vit = {"pauc_0.3": _area(0.87, 0.83, 0.91), "vs_diffiqa": {"pauc_0.3": _area(0.09, 0.036, 0.134)}}
    quality = {
        "diffiqa_r_large": {"setting": "cross-recognition-model", "fixed": {"0.001": large}},
        "vitfiqa": {"setting": "cross-recognition-model", "fixed": {"0.001": vit}},
    }
    return {"datasets": {"lfw": {"recognition": {"dlib": {"quality": quality}}}}}


def _comparison() -> dict[str, Any]:
    full = {
        "setting": "cross-recognition-model",
        "pauc_0.3": _area(0.85, 0.80, 0.90),
        "pauc_0.3_minus_diffiqa": _area(0.042, 0.014, 0.067),
    }
    return {
        "dataset": "celeba-val",
        "faces": 12,
        "command": "python -m fiqa compare-diffiqa",
        "repeats": 4,
        "timestep": 10,
        "backward": "2 DDIM steps",
        "model": {"size": 64, "parameters": 1000, "minutes": 3.5},
        "recognition": {"faceres": {"quality": {"diffiqa_ddpm": full}}},
    }


def _row(markdown: str, variant: str) -> str:
    (line,) = [line for line in markdown.splitlines() if line.startswith("| ") and f"| {variant} |" in line]
    return line


def test_rows_carry_their_set_interval_and_verdict() -> None:
    published = json.loads(PUBLISHED.read_text())
    markdown = render(_evaluation(), _comparison(), published)
    assert markdown.startswith(BEGIN) and markdown.endswith(END)
    full = _row(markdown, "DifFIQA (complete) = `diffiqa_ddpm`")
    assert "**celeba-val**: `faceres`: 0.850 [0.800, 0.900], minus `diffiqa` +0.042 [+0.014, +0.067] " in full
    assert "higher (worse), significant" in full and "**lfw**" not in full
    assert "2 DDIM steps" in full and "4 noisy copies each at t = 10" in full  # the run's own parameters
    assert "quoted, not measured: 0.702 (DifFIQA, Table 4;" in full
    large = _row(markdown, "DifFIQA(R) = `diffiqa_r_large`")
    assert "**lfw**: `dlib`: 0.780 [0.740, 0.820], minus `diffiqa` -0.001 [-0.027, +0.025] not significant" in large
    assert "celeba-val" not in large
    assert "higher (worse), significant" in _row(markdown, "ViT-FIQA = `vitfiqa`")


def test_unmeasured_rows_say_why_and_missing_figures_are_not_invented() -> None:
    markdown = render(_evaluation(), _comparison(), json.loads(PUBLISHED.read_text()))
    a1 = _row(markdown, "ablation A1: w/o image flipping")
    assert "not measured here: `compare-diffiqa` runs no variant without the flip" in a1
    # A2 is measured by compare-diffiqa, but this comparison has no entry for it: no figure, the reason instead
    a2 = _row(markdown, "ablation A2: w/o forward pass = `diffiqa_ddpm_backward_only`")
    assert "not measured here: `diffiqa_ddpm_backward_only` has no pAUC@0.3 on celeba-val in the JSON" in a2
    assert "not measured here: `mrfiqa_r` has no pAUC@0.3 on lfw" in _row(
        markdown, "MR-FIQA labels (lambda = 0.5) = `mrfiqa_r`"
    )
    for row in ROWS:
        assert (row.source is None) == bool(row.why_not), row.variant


def test_every_quoted_figure_is_cited_and_used() -> None:
    figures = json.loads(PUBLISHED.read_text())["figures"]
    assert {row.quoted for row in ROWS if row.quoted} == set(figures)
    for figure in figures.values():
        assert figure["where"] and figure["metric"] and figure["value"]


def test_the_committed_block_is_what_the_command_renders_from_the_committed_json() -> None:
    reports = REPO / "reports"
    markdown = (reports / "evaluation.md").read_text()
    committed = markdown[markdown.index(BEGIN) : markdown.index(END) + len(END)]
    assert committed == block(json.loads((reports / "evaluation.json").read_text()), reports), (
        "run `python -m fiqa methods-table`"
    )


def test_the_report_keeps_the_block_and_the_command_rewrites_only_it(tmp_path: Path) -> None:
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "diffiqa_ddpm.json").write_text(json.dumps(_comparison()))
    (tmp_path / "evaluation.json").write_text(json.dumps(_evaluation()))
    rendered = block(_evaluation(), tmp_path)
    assert rendered and block(_evaluation(), tmp_path / "validation") == ""  # no table in a report without it
    (tmp_path / "evaluation.md").write_text(f"before\n{BEGIN}\nold\n{END}\nafter\n")
    readme = tmp_path / "models" / "vitfiqa" / "README.md"
    readme.parent.mkdir(parents=True)
    readme.write_text(f"# vitfiqa\n{MODEL_BEGIN}\nold\n{MODEL_END}\nrest\n")
    assert methods.main(argparse.Namespace(reports=tmp_path, models_dir=tmp_path / "models")) == 0
    assert (tmp_path / "evaluation.md").read_text() == f"before\n{rendered}\nafter\n"
    assert readme.read_text() == f"# vitfiqa\n{model_block('vitfiqa', tmp_path)}\nrest\n"
    assert "**lfw**: `dlib`: 0.870" in readme.read_text()  # from the fixture's report, not the repository's
    evaluation = {"datasets": {}, "calibration": {}}
    whole = report.render(evaluation, rendered)
    assert whole.count(BEGIN) == 1 and whole.index(END) < whole.index("## Figures")
    assert BEGIN not in report.render(evaluation)


def test_the_command_refuses_without_the_comparison(tmp_path: Path) -> None:
    (tmp_path / "evaluation.json").write_text(json.dumps(_evaluation()))
    (tmp_path / "evaluation.md").write_text(f"{BEGIN}\nkept\n{END}\n")
    assert methods.main(argparse.Namespace(reports=tmp_path, models_dir=tmp_path)) == 1
    assert (tmp_path / "evaluation.md").read_text() == f"{BEGIN}\nkept\n{END}\n"


def test_a_model_block_holds_its_papers_rows_only() -> None:
    text = render_model("diffiqa_r", _evaluation(), _comparison(), json.loads(PUBLISHED.read_text()))
    assert text.startswith(MODEL_BEGIN) and text.endswith(MODEL_END)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| paper |")]
    assert {line.split(" | ")[0] for line in rows} == {"| DifFIQA(R)", "| LRFR"}
    assert len(rows) == sum(row.paper in ("DifFIQA(R)", "LRFR") for row in ROWS)
    assert model_block("not_a_paper_model", REPO / "reports") == ""


def test_every_quality_model_readme_states_its_papers_rows_as_the_command_writes_them() -> None:
    quality = {
        path.parent.name
        for path in (REPO / "models").glob("*/card.yaml")
        if yaml.safe_load(path.read_text())["kind"] == "quality"
    }
    assert quality <= set(MODELS), "a quality model without its paper's rows in fiqa.evaluate.methods.MODELS"
    assert {paper for papers in MODELS.values() for paper in papers} == {row.paper for row in ROWS}
    for name in MODELS:
        readme = (REPO / "models" / name / "README.md").read_text()
        committed = readme[readme.index(MODEL_BEGIN) : readme.index(MODEL_END) + len(MODEL_END)]
        assert committed == model_block(name), f"models/{name}/README.md: run `python -m fiqa methods-table`"
