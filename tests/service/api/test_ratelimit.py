"""service.api.ratelimit: token buckets on an injected clock (no sleeps)."""

from __future__ import annotations

import pytest

from service.api.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_burst_passes_then_the_wait_is_rounded_up_to_whole_seconds(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=0.4, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire("a") == 3  # one token takes 2.5 s at 0.4/s
    clock.now += 2.0
    assert limiter.acquire("a") == 1  # 0.8 token: 0.5 s to go, rounded up
    clock.now += 0.5
    assert limiter.acquire("a") == 0


def test_refusals_do_not_spend_tokens_and_refill_stops_at_the_burst(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=2, clock=clock)
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    assert limiter.acquire("a") == 1 and limiter.acquire("a") == 1
    clock.now += 1.0
    assert limiter.acquire("a") == 0
    clock.now += 60.0
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 1]


def test_each_client_has_its_own_bucket(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.acquire("key:ci") == 0 and limiter.acquire("key:ci") == 1
    assert limiter.acquire("key:ops") == 0 and limiter.acquire("address:10.0.0.7") == 0


def test_buckets_full_again_are_dropped(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=5, clock=clock)
    for client in ("a", "b", "c"):
        limiter.acquire(client)
    clock.now += 4.0
    limiter.acquire("d")
    assert len(limiter) == 4  # after 4 s the others are not yet full (5 s refill)
    clock.now += 1.0
    limiter.acquire("d")
    assert len(limiter) == 1


def test_the_table_is_capped_least_recently_used_first(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, max_clients=2, clock=clock)
    assert limiter.acquire("a") == 0 and limiter.acquire("b") == 0
    assert limiter.acquire("a") == 1  # a is now the most recently used
    assert limiter.acquire("c") == 0
    assert len(limiter) == 2
    assert limiter.acquire("a") == 1  # a kept its empty bucket; b was dropped
    assert limiter.acquire("b") == 0


@pytest.mark.parametrize(("rate", "burst", "cap"), [(0.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_a_limiter_that_could_never_admit_is_refused(rate: float, burst: int, cap: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, cap)
