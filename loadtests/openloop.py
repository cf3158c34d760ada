"""Open-loop load: a fixed request rate for a bounded time against a loopback gateway.

Requests leave on schedule whether or not earlier ones have answered, and latency counts from the scheduled
send time, so a slow server cannot hide its queueing (no coordinated omission). Stops by itself: after
``--duration`` seconds no new request is sent, and the ones in flight get at most ``--timeout`` seconds.

    python -m loadtests.openloop --url http://127.0.0.1:8000 --rate 5 --duration 30 --mix realistic \
        --json reports/openloop.json --md reports/openloop.md
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from loadtests.client import LoopbackClient, NotLoopback, Record, timed_request
from loadtests.report import provenance, save, served_models, summarize, summary_markdown
from loadtests.workload import Payload, named_mix


async def open_loop(
    client: LoopbackClient,
    next_payload: Callable[[], Payload],
    *,
    rate: float,
    duration_s: float,
    timeout_s: float = 30.0,
) -> tuple[list[Record], float]:
    """Send ``rate`` requests per second for ``duration_s``; returns the records and the wall time of the run."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    total = max(1, round(rate * duration_s))
    t0 = time.perf_counter()
    tasks: list[asyncio.Task[Record]] = []
    for index in range(total):
        scheduled = t0 + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed_request(client, next_payload(), scheduled, timeout_s, t0)))
    records = list(await asyncio.gather(*tasks))
    return records, time.perf_counter() - t0


async def _main(args: argparse.Namespace) -> dict:
    client = LoopbackClient(args.url, max_connections=args.connections)
    mix = named_mix(args.mix, seed=args.seed)
    mix.warm()
    try:
        records, wall = await open_loop(
            client, mix.next, rate=args.rate, duration_s=args.duration, timeout_s=args.timeout
        )
    finally:
        await client.close()
    summary = summarize(records, wall)
    by_kind = {
        kind: summarize([r for r in records if r.kind == kind], wall) for kind in sorted({r.kind for r in records})
    }
    return {"summary": summary, "by_kind": by_kind}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.openloop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="gateway base URL (loopback only)")
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take before it counts lost")
    parser.add_argument("--mix", default="realistic", help="'realistic' or one request kind, e.g. face_vga")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--connections", type=int, default=256, help="most requests in flight at once")
    parser.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    parser.add_argument("--md", type=Path, default=None, help="write the results here as Markdown")
    args = parser.parse_args(argv)
    record = provenance()
    try:
        result = asyncio.run(_main(args))
    except NotLoopback as exc:
        parser.error(str(exc))
    record["models"] = served_models(args.url)
    settings = {"url": args.url, "rate": args.rate, "duration": args.duration, "mix": args.mix, "seed": args.seed}
    markdown = summary_markdown("Open-loop load", result["summary"], settings)
    print(markdown)
    if args.json:
        save(args.json, {**record, "settings": settings, **result})
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(markdown + "\n")
    return 0 if result["summary"]["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
