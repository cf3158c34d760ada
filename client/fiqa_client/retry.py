"""When to try a request again: after a 503 (the gateway is busy) or a 429 (the client's rate is spent), as long
as its ``Retry-After`` says (else an exponential back-off), within a bounded number of attempts and a total
deadline: a wait that would end past the deadline is not started, the answer is returned at once."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import httpx2

RETRIED = frozenset({429, 503})


@dataclass(frozen=True)
class Retry:
    """``attempts``: tries in all (1: never retry); ``deadline_s``: the most one call may take, waits included;
    ``backoff_s``: the first wait when the answer has no ``Retry-After`` (doubled each time, at most ``max_wait_s``)."""

    attempts: int = 4
    deadline_s: float = 60.0
    backoff_s: float = 0.5
    max_wait_s: float = 30.0

    def wait_s(self, response: httpx2.Response, attempt: int, elapsed_s: float) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when ``response`` is the answer to return."""
        if response.status_code not in RETRIED or attempt >= self.attempts:
            return None
        told = retry_after_s(response)
        wait = min(self.backoff_s * 2 ** (attempt - 1) if told is None else told, self.max_wait_s)
        return wait if elapsed_s + wait < self.deadline_s else None


def retry_after_s(response: httpx2.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds (RFC 9110: delay seconds or an HTTP date), None without a valid one."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
