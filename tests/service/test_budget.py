"""service.budget: decoded pixels held at once over all requests; small frames run side by side, a frame that does
not fit waits for a release, too many waiting frames are refused at once (503), a frame larger than the whole budget
runs alone."""

from __future__ import annotations

import asyncio

import pytest

from service.budget import PixelBudget
from service.errors import Overloaded


def test_frames_that_fit_are_held_together_and_the_rest_wait() -> None:
    async def run() -> None:
        budget = PixelBudget(limit=100, max_waiting=4, retry_after_s=1)
        order: list[str] = []
        small = [await budget.acquire(30), await budget.acquire(30)]  # 60 of 100: no wait
        assert budget.held == 60

        async def large() -> None:
            held = await budget.acquire(80)
            order.append("large")
            await budget.release(held)

        waiting = asyncio.create_task(large())
        await asyncio.sleep(0)
        assert budget.waiting == 1 and not order  # 60 + 80 > 100
        await budget.release(small[0])
        await asyncio.sleep(0)
        assert not order  # 30 + 80 still > 100
        await budget.release(small[1])
        await waiting
        assert order == ["large"] and budget.held == 0 and budget.waiting == 0

    asyncio.run(run())


def test_too_many_waiting_frames_are_refused_with_retry_after() -> None:
    async def run() -> None:
        budget = PixelBudget(limit=10, max_waiting=1, retry_after_s=3)
        held = await budget.acquire(10)
        first = asyncio.create_task(budget.acquire(5))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as refused:
            await budget.acquire(5)
        assert refused.value.headers == {"Retry-After": "3"}
        await budget.release(held)
        await budget.release(await first)

    asyncio.run(run())


def test_a_frame_larger_than_the_budget_runs_alone() -> None:
    async def run() -> None:
        budget = PixelBudget(limit=10, max_waiting=1, retry_after_s=1)
        held = await budget.acquire(1_000)
        assert held == 10 and budget.held == 10
        await budget.release(held)

    asyncio.run(run())
