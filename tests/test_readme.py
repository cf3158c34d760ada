"""The README's evaluation block is what the reports say (written by ``python -m fiqa readme-summary``)."""

from __future__ import annotations

from pathlib import Path

from fiqa.evaluate.summary import BEGIN, END, current

REPO = Path(__file__).resolve().parents[1]


def test_readme_evaluation_block_matches_the_reports() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert block == current(REPO), "run `python -m fiqa readme-summary` after changing the reports"
