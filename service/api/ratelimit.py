"""Token buckets per client (an API key's name, or an address): each holds up to ``burst`` requests and refills at
``rate_per_s``. Memory is bounded: a bucket idle long enough to be full again is the same as a new one and is
dropped, and past ``max_clients`` the least recently used go first. The table lives in one process, so a limit
holds per gateway process (replica or uvicorn worker), not across a fleet."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``acquire(client)`` takes one token from the client's bucket; not thread-safe (the event loop calls it)."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("a rate limiter needs rate_per_s > 0, burst >= 1 and max_clients >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._refill_s = burst / rate_per_s  # an empty bucket is full again after this long
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, client: str) -> int:
        """0 when the request may go on, else the whole seconds (rounded up) until the client's next token."""
        now = self._clock()
        bucket = self._buckets.pop(client, None) or _Bucket(float(self.burst), now)
        self._evict(now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        self._buckets[client] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate_per_s))

    def _evict(self, now: float) -> None:
        """Drop the other buckets that are full again (oldest first), then the least recently used until one more
        fits under the cap."""
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < self._refill_s:
                break
            self._buckets.popitem(last=False)
        while len(self._buckets) >= self.max_clients:
            self._buckets.popitem(last=False)
