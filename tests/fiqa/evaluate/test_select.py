"""The default-model rule: the choice made on validation figures only (costs: test_cost)."""

from __future__ import annotations

from fiqa.evaluate.select import choose


def test_choice_is_the_cheap_model_with_the_lowest_mean_cross_model_area() -> None:
    rows = [
        {"model": "heavy", "eligible": False, "mean_pauc": 0.5},
        {"model": "a", "eligible": True, "mean_pauc": 0.8},
        {"model": "b", "eligible": True, "mean_pauc": 0.7},
        {"model": "unmeasured", "eligible": True, "mean_pauc": None},
    ]
    assert choose(rows) == "b"
    assert choose([rows[0]]) is None
