"""Every evaluation figure a model card quotes is the one ``reports/evaluation.json`` holds (issue 15's claims
check): cards are written by ``python -m fiqa card-metrics`` and must be rewritten when the report changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fiqa.evaluate.card_metrics import PREFIX, STALE, metrics_for
from fiqa.evaluate.mapping import card_mapping
from fiqa.ifqa.evaluate import card_lines, readme_block, score_mapping

REPO = Path(__file__).resolve().parents[2]
CARDS = sorted((REPO / "models").glob("*/card.yaml"))


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.parent.name)
def test_card_evaluation_lines_match_the_report(path: Path) -> None:
    card = yaml.safe_load(path.read_text())
    quoted = {k: v for k, v in (card.get("metrics") or {}).items() if k.startswith(PREFIX)}
    assert not [k for k in card.get("metrics") or {} if STALE.match(k)], "lines of an earlier protocol"
    if card["kind"] != "quality":
        assert not quoted
        return
    report = json.loads((REPO / "reports" / "evaluation.json").read_text())
    assert quoted == metrics_for(report, card["name"])


def test_ifqa_card_quotes_its_report() -> None:
    """The IFQA maps' evidence in its card is the one ``python -m fiqa ifqa-evaluate`` wrote to reports/ifqa.json,
    and its score mapping is the calibration that report holds."""
    card = yaml.safe_load((REPO / "models" / "ifqa" / "card.yaml").read_text())
    report = json.loads((REPO / "reports" / "ifqa.json").read_text())
    lines = card_lines(report)
    assert {key: card["metrics"][key] for key in lines} == lines
    mapping = score_mapping(report["calibration_celeba_val"])
    assert {key: card["score_mapping"][key] for key in mapping} == mapping
    readme = (REPO / "models" / "ifqa" / "README.md").read_text()
    assert readme_block(report) in readme, "models/ifqa/README.md: rerun python -m fiqa ifqa-evaluate"


@pytest.mark.parametrize(
    "report", sorted((REPO / "reports" / "validation").glob("mapping-*.json")), ids=lambda p: p.stem
)
def test_a_fitted_mapping_is_the_one_its_report_holds(report: Path) -> None:
    """``python -m fiqa fit-mapping`` wrote both the report and the card's score mapping; they must agree."""
    fitted = json.loads(report.read_text())
    card = yaml.safe_load((REPO / "models" / fitted["model"] / "card.yaml").read_text())
    assert card["score_mapping"] == card_mapping(fitted)
    assert (card.get("parameters") or {}) == fitted["card_parameters"]
