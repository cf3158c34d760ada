"""How many decoded pixels the process holds at once, over all requests: a frame takes its share from decode until
its faces are cropped, so decoded memory stays near ``limit`` x ~4 bytes however many requests arrive. Frames that do
not fit wait their turn (small frames are never serialised behind each other: 500 VGA frames fit a 200 M budget); past
``max_waiting`` waiting frames a request is refused at once (503), which is back-pressure, not a queue without end."""

from __future__ import annotations

import asyncio

from service.errors import Overloaded


class PixelBudget:
    """A weighted semaphore over decoded pixels."""

    def __init__(self, limit: int, max_waiting: int, retry_after_s: int):
        self.limit = limit
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self.held = 0
        self.waiting = 0
        self._changed = asyncio.Condition()

    async def acquire(self, pixels: int) -> int:
        """Wait until ``pixels`` fit (at most the whole budget, so one frame can always run alone), hold them and
        return what is held, to ``release`` later; refuse (503) when too many frames already wait."""
        pixels = min(max(pixels, 0), self.limit)
        async with self._changed:
            if self.held + pixels > self.limit:
                if self.waiting >= self.max_waiting:
                    raise Overloaded(
                        f"{self.waiting} images are waiting to be decoded",
                        headers={"Retry-After": str(self.retry_after_s)},
                    )
                self.waiting += 1
                try:
                    await self._changed.wait_for(lambda: self.held + pixels <= self.limit)
                finally:
                    self.waiting -= 1
            self.held += pixels
        return pixels

    async def release(self, held: int) -> None:
        async with self._changed:
            self.held -= held
            self._changed.notify_all()
