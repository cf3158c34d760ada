"""Per-network micro-batcher: rows from concurrent requests share one inference call.

The queue is bounded in rows; a submission that would overflow it is refused at once (``Overloaded``,
answered 503 with Retry-After) rather than left waiting without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from service import metrics
from service.errors import Overloaded

Tensors = dict[str, np.ndarray]


@dataclass
class BatchTiming:
    """Where one submission's time went: waiting for a batch, and inside the model."""

    queue_ms: float = 0.0
    infer_ms: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)


@dataclass
class _Item:
    inputs: Tensors
    rows: int
    enqueued: float
    future: asyncio.Future


class MicroBatcher:
    """Gathers rows for one network until ``max_batch`` rows or ``max_wait_s`` after the oldest row."""

    def __init__(
        self,
        name: str,
        run: Callable[[str, Tensors], Awaitable[Tensors]],
        *,
        max_batch: int,
        max_wait_s: float,
        max_queue_rows: int,
        retry_after_s: int = 1,
        workers: int = 1,
    ):
        self.name = name
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue_rows = max_queue_rows
        self.retry_after_s = retry_after_s
        self._pending: deque[_Item] = deque()
        self._pending_rows = 0
        self._wakeup = asyncio.Event()
        self._tasks = [asyncio.create_task(self._worker(), name=f"batcher-{name}-{i}") for i in range(workers)]

    @property
    def queued_rows(self) -> int:
        return self._pending_rows

    async def submit(self, inputs: Tensors) -> tuple[Tensors, BatchTiming]:
        """Run ``inputs`` (batch on axis 0) as part of shared batches; outputs keep the input's row order."""
        rows = next(iter(inputs.values())).shape[0]
        if self._pending_rows + rows > self.max_queue_rows:
            raise Overloaded(
                f"{self.name}: inference queue is full ({self._pending_rows} rows waiting)",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        loop = asyncio.get_running_loop()
        chunks = []
        for start in range(0, rows, self.max_batch):
            part = {key: value[start : start + self.max_batch] for key, value in inputs.items()}
            item = _Item(part, min(self.max_batch, rows - start), time.perf_counter(), loop.create_future())
            self._pending.append(item)
            self._pending_rows += item.rows
            chunks.append(item.future)
        metrics.QUEUE_DEPTH.labels(model=self.name).set(self._pending_rows)
        self._wakeup.set()
        results = await asyncio.gather(*chunks)
        timing = BatchTiming()
        for _, chunk_timing in results:
            timing.queue_ms = max(timing.queue_ms, chunk_timing.queue_ms)
            timing.infer_ms += chunk_timing.infer_ms
            timing.batch_sizes += chunk_timing.batch_sizes
        outputs = {key: np.concatenate([out[key] for out, _ in results]) for key in results[0][0]}
        return outputs, timing

    async def _worker(self) -> None:
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            delay = self._pending[0].enqueued + self.max_wait_s - time.perf_counter()
            if self._pending_rows < self.max_batch and delay > 0:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                continue
            batch = self._take()
            if batch:
                await self._execute(batch)

    def _take(self) -> list[_Item]:
        batch: list[_Item] = []
        rows = 0
        while self._pending and rows + self._pending[0].rows <= self.max_batch:
            item = self._pending.popleft()
            self._pending_rows -= item.rows
            if item.future.done():  # the request went away (client gone, cancelled)
                continue
            batch.append(item)
            rows += item.rows
        metrics.QUEUE_DEPTH.labels(model=self.name).set(self._pending_rows)
        return batch

    async def _execute(self, batch: list[_Item]) -> None:
        started = time.perf_counter()
        total = sum(item.rows for item in batch)
        try:
            inputs = {key: np.concatenate([item.inputs[key] for item in batch]) for key in batch[0].inputs}
            outputs = await self._run(self.name, inputs)
        except Exception as exc:  # every waiter learns of the failure; the worker lives on
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        infer_ms = (time.perf_counter() - started) * 1000.0
        metrics.BATCH_SIZE.labels(model=self.name).observe(total)
        metrics.MODEL_LATENCY.labels(model=self.name).observe(infer_ms / 1000.0)
        offset = 0
        for item in batch:
            part = {key: value[offset : offset + item.rows] for key, value in outputs.items()}
            offset += item.rows
            if not item.future.done():
                timing = BatchTiming((started - item.enqueued) * 1000.0, infer_ms, [total])
                item.future.set_result((part, timing))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
