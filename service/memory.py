"""Give the memory of large frames back to the system once a request is done.

glibc serves allocations above its mmap threshold with their own mappings, returned on free, but it raises that
threshold (up to 32 MB) each time such a block is freed, so after a few large images their buffers (Pillow's 16 MB
blocks, decoded frames) come from the heap and stay resident: measured here, a gateway grew from 0.45 to 1.27 GB
over six requests of two 6000x6000 frames. Fixing the threshold at 1 MB keeps every large buffer a mapping of its
own, two heap arenas instead of one per decoding thread keep the middle-sized rest from scattering, and a trim after
a request of large frames hands back what the heap freed (measured: it levels off near 0.43 GB and stays there).
Small allocations, where the heap is faster, are unaffected. Elsewhere than glibc all of this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameter numbers
LARGE_BYTES = 1 << 20
ARENAS = 2
TRIM_AFTER_PIXELS = 10_000_000  # a request that decoded this many pixels or more trims the heap after


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold at 1 MB and its arenas at 2; True when both were set. Call it before the worker
    threads start."""
    libc = _glibc()
    if libc is None:
        log.info("no glibc here: large buffers are left to the allocator's defaults")
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_BYTES)) and bool(libc.mallopt(M_ARENA_MAX, ARENAS))


def trim_after(pixels: int) -> None:
    """Hand the heap's free pages back to the system (``malloc_trim``, a few milliseconds) when a request decoded
    ``pixels`` >= ``TRIM_AFTER_PIXELS``."""
    libc = _glibc()
    if libc is not None and pixels >= TRIM_AFTER_PIXELS:
        libc.malloc_trim(0)
