"""Give the memory of large frames back to the system once a request is done.

glibc serves allocations above its mmap threshold with their own mappings, returned on free, but it raises that
threshold (up to 32 MB) each time such a block is freed, so after a few large images their buffers (Pillow's 16 MB
blocks, decoded frames) come from the heap and stay resident: measured here, a gateway grew from 0.45 to 1.27 GB
over six requests of two 6000x6000 frames. Fixing the threshold at 1 MB keeps every large buffer a mapping of its
own, and two heap arenas instead of one per decoding thread keep the middle-sized rest from scattering (measured:
it levels off near 0.5 GB and stays there). Small allocations, where the heap is faster, are unaffected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameter numbers
LARGE_BYTES = 1 << 20
ARENAS = 2


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold at 1 MB and its arenas at 2 (no-op elsewhere); True when both were set. Call it
    before the worker threads start."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.info("no glibc mallopt here: large buffers are left to the allocator's defaults")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BYTES)) and bool(mallopt(M_ARENA_MAX, ARENAS))
