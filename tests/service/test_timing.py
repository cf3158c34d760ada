"""service.timing.Timings: stages add up, failures are still timed, finish() adds the wall total."""

from __future__ import annotations

import time

import pytest

from service.timing import Timings


def test_stage_records_elapsed_milliseconds() -> None:
    timings = Timings()
    with timings.stage("decode"):
        time.sleep(0.02)
    assert 15.0 <= timings.ms["decode"] < 2000.0


def test_same_stage_accumulates() -> None:
    timings = Timings()
    for _ in range(3):
        with timings.stage("align"):
            time.sleep(0.01)
    assert timings.ms["align"] >= 25.0
    assert set(timings.ms) == {"align"}


def test_stage_is_timed_even_when_it_raises() -> None:
    timings = Timings()
    with pytest.raises(ValueError), timings.stage("detect"):
        time.sleep(0.01)
        raise ValueError("boom")
    assert timings.ms["detect"] >= 5.0


def test_add_and_finish() -> None:
    timings = Timings()
    timings.add("quality_queue", 1.23456)
    timings.add("quality_queue", 2.0)
    with timings.stage("decide"):
        time.sleep(0.01)
    result = timings.finish()
    assert result["quality_queue"] == 3.235  # summed, then rounded to microseconds
    assert set(result) == {"quality_queue", "decide", "total"}
    assert result["total"] >= result["decide"]
    assert all(round(value, 3) == value for value in result.values())


def test_total_is_wall_time_since_creation() -> None:
    timings = Timings()
    time.sleep(0.02)
    first = timings.finish()["total"]
    time.sleep(0.01)
    second = timings.finish()["total"]
    assert first >= 15.0
    assert second > first  # finish() measures again rather than freezing the first value
