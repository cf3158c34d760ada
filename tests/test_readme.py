"""The README's evaluation block is what the reports say (written by ``python -m fiqa readme-summary``), and its
measures table names what service/measures serves and lacks."""

from __future__ import annotations

from pathlib import Path

from fiqa.evaluate.summary import BEGIN, END, current
from service.measures import MEASURES, NOT_PROVIDED

REPO = Path(__file__).resolve().parents[1]


def test_readme_evaluation_block_matches_the_reports() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert block == current(REPO), "run `python -m fiqa readme-summary` after changing the reports"


def test_readme_lists_every_measure_beside_ofiq() -> None:
    """The README's measures table names every measure served and every one of OFIQ's not provided yet."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Component measures") : readme.index("## How a request walks")]
    for name in [*MEASURES, *NOT_PROVIDED]:
        assert name in section, name
