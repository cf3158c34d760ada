"""Paired side-by-side gateway runs: the rotating order, the paired intervals, the comparison, and a tiny real run."""

from __future__ import annotations

import math

from loadtests.paired import compare, paired, run_rounds, schedule
from service.settings import Settings


def test_every_setting_takes_every_place_equally_often_over_whole_cycles() -> None:
    labels = ["2:2", "3:2", "2:2:1", "3:1"]
    orders = schedule(labels, 8)
    assert all(sorted(order) == sorted(labels) for order in orders)
    for place in range(len(labels)):
        assert sorted(order[place] for order in orders) == sorted(labels * 2)


def test_the_paired_interval_holds_the_mean_and_narrows_with_agreeing_rounds() -> None:
    spread, agreeing = paired([1.0, 5.0, -2.0, 4.0]), paired([2.0, 2.1, 1.9, 2.0])
    for value in (spread, agreeing):
        assert value["low"] < value["mean"] < value["high"]
    assert agreeing["high"] - agreeing["low"] < spread["high"] - spread["low"]
    assert agreeing["low"] > 0 > spread["low"]
    assert math.isnan(paired([3.0])["low"])


def _level(label: str, number: int, rps: float, p50: float, errors: int = 0) -> dict:
    return {
        "variant": label,
        "round": number,
        "concurrency": 8,
        "throughput_rps": rps,
        "latency_ms": {"p50": p50},
        "errors": errors,
    }


def test_settings_are_compared_round_by_round_with_the_reference() -> None:
    levels = [
        _level("off", 0, 40.0, 100.0),
        _level("on", 0, 42.0, 90.0),
        _level("off", 1, 60.0, 80.0),
        _level("on", 1, 63.0, 72.0, errors=1),
        _level("on", 2, 99.0, 10.0),  # a round the reference lacks: not paired, not counted
    ]
    rows = {row["variant"]: row for row in compare(levels, "off")}
    on = rows["on"]
    assert (on["rounds"], on["req/s"], on["errors"]) == (2, 52.5, 1)
    assert on["req/s vs current"]["mean"] == 2.5  # +2 and +3 req/s, although the rounds differ by 20 req/s
    assert on["p50 vs current"]["mean"] == -0.1
    assert rows["off"]["req/s vs current"]["mean"] == 0.0


def test_a_tiny_real_run_measures_every_setting_in_every_round() -> None:
    envs = {"defaults": {}, "one worker": {"FIQA_CPU_WORKERS": "1", "FIQA_ORT_INTRA_OP_THREADS": "1"}}
    levels, models = run_rounds(envs, rounds=2, concurrencies=[1, 2], duration=1.0, warmup=0.3)
    assert models == Settings().default_models
    assert [(row["variant"], row["round"], row["concurrency"]) for row in levels] == [
        (label, number, concurrency)
        for number, order in enumerate(schedule(list(envs), 2))
        for concurrency in (1, 2)
        for label in order
    ]
    assert all(row["errors"] == 0 and row["throughput_rps"] > 0 for row in levels)
    assert all(row["rounds"] == 2 for row in compare(levels, "defaults"))
