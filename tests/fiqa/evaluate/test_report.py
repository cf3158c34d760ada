"""The report's paired-bootstrap table: each measure's area minus diffiqa's, per dataset; the committed reports are
their JSON's rendering."""

from __future__ import annotations

from pathlib import Path

from fiqa.evaluate.methods import block
from fiqa.evaluate.report import _paired_table, load, render

REPO = Path(__file__).resolve().parents[3]


def test_paired_table_quotes_the_difference_interval_and_how_often_the_measure_is_lower() -> None:
    diff = {"value": -0.0141, "low": -0.05, "high": 0.021, "share_lower": 0.78, "replicates": 500}
    entry = {"kind": "model", "fixed": {"0.001": {"pauc_0.2": {"value": 0.8}, "vs_diffiqa": {"pauc_0.2": diff}}}}
    reference = {"kind": "model", "fixed": {"0.001": {"pauc_0.2": {"value": 0.81}}}}
    report = {
        "datasets": {
            "lfw": {"recognition": {"dlib": {"quality": {"m": entry, "diffiqa": reference}}}},
            "orl": {"recognition": {"dlib": {"quality": {"diffiqa": reference}}}},
        }
    }
    lines = _paired_table(report, "dlib", "pauc_0.2", "diffiqa")
    assert "| m | -0.014 [-0.050, +0.021], lower in 78% | — |" in lines
    assert not any(line.startswith("| diffiqa ") for line in lines)  # the reference has no row of its own
    assert _paired_table(report, "dlib", "pauc_0.3", "diffiqa") == []
    assert _paired_table(report, "dlib", "pauc_0.2", "det_confidence") == []


def test_the_committed_reports_are_their_json_rendered() -> None:
    """Neither evaluation.md is edited by hand: each is its JSON's rendering (the benchmark one with the methods
    table, which ``evaluate`` and ``calibrate`` pass in as they write it)."""
    for reports in (REPO / "reports", REPO / "reports" / "validation"):
        evaluation = load(reports / "evaluation.json")
        assert (reports / "evaluation.md").read_text() == render(evaluation, block(evaluation, reports)), reports
