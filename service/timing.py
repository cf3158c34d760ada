"""Per-request stage timings: filled by the stages, read by the response and the metrics."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    """Milliseconds per stage; stages of concurrent images add up (work done, not wall time)."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self.ms: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] += (time.perf_counter() - started) * 1000.0

    def add(self, name: str, milliseconds: float) -> None:
        self.ms[name] += milliseconds

    def finish(self) -> dict[str, float]:
        """All stages plus ``total`` (wall time since creation), rounded for the response."""
        self.ms["total"] = (time.perf_counter() - self._started) * 1000.0
        return {name: round(value, 3) for name, value in self.ms.items()}
