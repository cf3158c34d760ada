"""service.memory: on glibc (this machine, the gateway image) both allocator settings take; what they are for — a
process that returns to its size after large frames — is tested on a real server in tests/service/test_server.py."""

from __future__ import annotations

import platform

from service.memory import return_large_buffers, trim_after


def test_the_allocator_settings_take_on_glibc() -> None:
    assert platform.libc_ver()[0] == "glibc"
    assert return_large_buffers()
    trim_after(0)  # below the threshold: nothing to do
    trim_after(10**9)  # a trim runs and returns
