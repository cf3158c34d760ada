"""service.batching.MicroBatcher with a fake model that records every batch it is given."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest

from service.batching import MicroBatcher
from service.errors import Overloaded

T = TypeVar("T")
Tensors = dict[str, np.ndarray]


class FakeModel:
    """Doubles its input; records batch sizes; can be held (to fill the queue) or made to fail."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate: asyncio.Event | None = None
        self.fail_on: float | None = None

    async def run(self, name: str, inputs: Tensors) -> Tensors:
        x = inputs["x"]
        self.batches.append(int(x.shape[0]))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if self.fail_on is not None and np.any(x == self.fail_on):
            raise RuntimeError(f"{name}: poisoned row")
        return {"y": x * 2.0, "row_sum": x.sum(axis=1)}


def rows(*values: float, width: int = 3) -> Tensors:
    return {"x": np.repeat(np.asarray(values, dtype=np.float32)[:, None], width, axis=1)}


def scenario(body: Callable[[FakeModel], Awaitable[T]]) -> T:
    """Run ``body`` in a fresh event loop (the batcher needs one to start its worker)."""
    return asyncio.run(body(FakeModel()))


def make(model: FakeModel, **overrides: float) -> MicroBatcher:
    options = {"max_batch": 8, "max_wait_s": 0.05, "max_queue_rows": 64, "retry_after_s": 3, **overrides}
    return MicroBatcher("fake", model.run, **options)


def test_concurrent_submits_share_one_call_and_get_their_own_rows() -> None:
    async def body(model: FakeModel):
        batcher = make(model)
        results = await asyncio.gather(
            batcher.submit(rows(1.0)), batcher.submit(rows(2.0, 3.0)), batcher.submit(rows(4.0))
        )
        await batcher.close()
        return model, results

    model, results = scenario(body)
    assert model.batches == [4]
    for (outputs, timing), expected in zip(results, [[1.0], [2.0, 3.0], [4.0]], strict=True):
        np.testing.assert_array_equal(outputs["y"][:, 0], np.asarray(expected) * 2)
        np.testing.assert_array_equal(outputs["row_sum"], np.asarray(expected) * 3)
        assert timing.batch_sizes == [4]
        assert timing.queue_ms >= 0 and timing.infer_ms >= 0


def test_max_batch_respected_and_oversized_submission_split_in_order() -> None:
    async def body(model: FakeModel):
        batcher = make(model, max_batch=4)
        values = np.arange(10, dtype=np.float32)
        outputs, timing = await batcher.submit({"x": np.stack([values, -values], axis=1)})
        await batcher.close()
        return model, values, outputs, timing

    model, values, outputs, timing = scenario(body)
    assert model.batches == [4, 4, 2]
    assert max(model.batches) <= 4
    np.testing.assert_array_equal(outputs["y"], np.stack([values, -values], axis=1) * 2)
    assert timing.batch_sizes == [4, 4, 2]


def test_many_small_submitters_never_exceed_max_batch() -> None:
    async def body(model: FakeModel):
        batcher = make(model, max_batch=5)
        results = await asyncio.gather(*(batcher.submit(rows(float(i), float(i) + 0.5)) for i in range(9)))
        await batcher.close()
        return model, results

    model, results = scenario(body)
    assert sum(model.batches) == 18
    assert max(model.batches) <= 5
    assert len(model.batches) <= 5  # merged, not one call per submitter
    for i, (outputs, _) in enumerate(results):
        np.testing.assert_array_equal(outputs["y"][:, 0], [2.0 * i, 2.0 * i + 1.0])


def test_lone_row_waits_for_max_wait_then_runs() -> None:
    async def body(model: FakeModel):
        batcher = make(model, max_wait_s=0.2)
        started = time.perf_counter()
        outputs, timing = await batcher.submit(rows(5.0))
        elapsed = time.perf_counter() - started
        await batcher.close()
        return model, outputs, timing, elapsed

    model, outputs, timing, elapsed = scenario(body)
    assert model.batches == [1]
    assert elapsed >= 0.19  # it waited for company...
    assert elapsed < 5.0  # ...but not for ever
    assert timing.queue_ms >= 190
    np.testing.assert_array_equal(outputs["y"], [[10.0, 10.0, 10.0]])


def test_full_batch_does_not_wait() -> None:
    async def body(model: FakeModel):
        batcher = make(model, max_batch=4, max_wait_s=10.0)
        started = time.perf_counter()
        await batcher.submit(rows(1.0, 2.0, 3.0, 4.0))
        elapsed = time.perf_counter() - started
        await batcher.close()
        return model, elapsed

    model, elapsed = scenario(body)
    assert model.batches == [4]
    assert elapsed < 5.0  # far below max_wait: a full batch goes at once


def test_full_queue_refuses_with_retry_after() -> None:
    async def body(model: FakeModel):
        model.gate = asyncio.Event()
        batcher = make(model, max_batch=4, max_queue_rows=6, max_wait_s=0.0)
        running = asyncio.create_task(batcher.submit(rows(1, 2, 3, 4)))  # taken by the worker, held in run
        while not model.batches:
            await asyncio.sleep(0.001)
        waiting = asyncio.create_task(batcher.submit(rows(5, 6, 7, 8, 9)))  # queued behind it
        await asyncio.sleep(0.01)
        assert batcher.queued_rows == 5
        with pytest.raises(Overloaded) as info:
            await batcher.submit(rows(10, 11))
        fits = asyncio.create_task(batcher.submit(rows(12)))  # 5 + 1 <= 6 still fits
        await asyncio.sleep(0.01)
        model.gate.set()
        results = await asyncio.gather(running, waiting, fits)
        await batcher.close()
        return info.value, results

    error, results = scenario(body)
    assert error.status == 503 and error.code == "overloaded"
    assert error.headers == {"Retry-After": "3"}
    np.testing.assert_array_equal(results[1][0]["y"][:, 0], [10, 12, 14, 16, 18])
    np.testing.assert_array_equal(results[2][0]["y"][:, 0], [24])


def test_submission_larger_than_the_queue_is_refused() -> None:
    async def body(model: FakeModel):
        batcher = make(model, max_queue_rows=4)
        try:
            with pytest.raises(Overloaded):
                await batcher.submit(rows(1, 2, 3, 4, 5))
        finally:
            await batcher.close()
        return model

    assert scenario(body).batches == []


def test_failure_reaches_every_waiter_and_the_worker_survives() -> None:
    async def body(model: FakeModel):
        model.fail_on = 666.0
        batcher = make(model)
        failed = await asyncio.gather(
            batcher.submit(rows(1.0)), batcher.submit(rows(666.0)), batcher.submit(rows(2.0)), return_exceptions=True
        )
        outputs, _ = await batcher.submit(rows(7.0))
        await batcher.close()
        return model, failed, outputs

    model, failed, outputs = scenario(body)
    assert model.batches == [3, 1]
    assert all(isinstance(result, RuntimeError) and "poisoned" in str(result) for result in failed)
    np.testing.assert_array_equal(outputs["y"], [[14.0, 14.0, 14.0]])


def test_cancelled_submitter_is_skipped() -> None:
    async def body(model: FakeModel):
        batcher = make(model, max_wait_s=0.1)
        gone = asyncio.create_task(batcher.submit(rows(1.0, 1.0)))
        stays = asyncio.create_task(batcher.submit(rows(2.0)))
        await asyncio.sleep(0.01)
        gone.cancel()
        outputs, _ = await stays
        await batcher.close()
        return model, outputs, batcher.queued_rows

    model, outputs, queued = scenario(body)
    assert model.batches == [1]  # the cancelled rows were never run
    assert queued == 0
    np.testing.assert_array_equal(outputs["y"], [[4.0, 4.0, 4.0]])


def test_close_stops_the_workers() -> None:
    async def body(model: FakeModel):
        batcher = make(model)
        await batcher.close()
        return batcher

    batcher = scenario(body)
    assert all(task.done() for task in batcher._tasks)
