"""Bounded soak: a steady open-loop rate (by default 70 % of the measured maximum) for a fixed time.

Reports latency per time window, errors (target 0) and the gateway's resident memory growth from the end of
warm-up to the end of the run (target < 5 %). Starts its own gateway unless ``--url`` (and ``--pid`` for
memory) is given.

    python -m loadtests.soak --duration 600 --fraction 0.7           # the 10-minute soak
    python -m loadtests.soak --duration 150 --window 30               # a short one
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from loadtests.client import LoopbackClient, closed_loop
from loadtests.openloop import open_loop
from loadtests.report import (
    machine,
    markdown_table,
    percentiles,
    provenance,
    save,
    served_models,
    summarize,
    update_performance,
)
from loadtests.server import Gateway, rss_bytes
from loadtests.workload import named_mix

MiB = 1024 * 1024


async def soak(args: argparse.Namespace, url: str, pid: int | None) -> dict[str, Any]:
    mix = named_mix(args.mix, seed=args.seed)
    mix.warm()
    client = LoopbackClient(url, max_connections=args.connections)
    try:
        await closed_loop(client, mix.next, concurrency=2, duration_s=args.warmup)
        probe = None
        rate = args.rate
        if rate is None:
            records, wall = await closed_loop(
                client, mix.next, concurrency=args.probe_concurrency, duration_s=args.probe
            )
            probe = summarize(records, wall)
            rate = max(0.05, args.fraction * probe["throughput_rps"])
        rss_start = rss_bytes(pid) if pid else 0
        memory: list[tuple[float, int]] = []

        async def sample_memory() -> None:
            t0 = time.perf_counter()
            while True:
                memory.append((round(time.perf_counter() - t0, 1), rss_bytes(pid) if pid else 0))
                await asyncio.sleep(args.memory_every)

        sampler = asyncio.create_task(sample_memory())
        try:
            records, wall = await open_loop(
                client, mix.next, rate=rate, duration_s=args.duration, timeout_s=args.timeout
            )
        finally:
            sampler.cancel()
        rss_end = rss_bytes(pid) if pid else 0
    finally:
        await client.close()

    windows = []
    for start in range(0, int(args.duration + 0.999), int(args.window)):
        inside = [r for r in records if start <= r.started < start + args.window]
        if not inside:
            continue
        rss = [value for t, value in memory if start <= t < start + args.window]
        windows.append(
            {
                "window s": f"{start}-{start + int(args.window)}",
                "sent": len(inside),
                "errors": sum(1 for r in inside if r.status != "200"),
                **{f"{k} ms": v for k, v in percentiles([r.latency_ms for r in inside]).items() if k != "mean"},
                "RSS MiB": round(max(rss) / MiB, 1) if rss else "",
            }
        )
    growth = 100.0 * (rss_end - rss_start) / rss_start if rss_start else None
    peak = max((value for _, value in memory), default=0)
    return {
        "rate_rps": round(rate, 3),
        "fraction_of_max": args.fraction if args.rate is None else None,
        "probe": probe,
        "summary": summarize(records, wall),
        "windows": windows,
        "rss_start_mib": round(rss_start / MiB, 1),
        "rss_end_mib": round(rss_end / MiB, 1),
        "rss_peak_mib": round(peak / MiB, 1),
        "rss_growth_percent": round(growth, 2) if growth is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="a running gateway (loopback); default: start one")
    parser.add_argument("--pid", type=int, default=None, help="the running gateway's pid, for its memory")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of steady load")
    parser.add_argument("--rate", type=float, default=None, help="requests/s; default: --fraction of the probe's max")
    parser.add_argument("--fraction", type=float, default=0.7)
    parser.add_argument("--probe", type=float, default=30.0, help="seconds of closed-loop load to find the max rate")
    parser.add_argument("--probe-concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=60.0, help="seconds per row of the latency-over-time table")
    parser.add_argument("--memory-every", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--mix", default="realistic")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--section", default="soak", help="key in reports/performance.json")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        if args.url:
            url, pid, settings_env = args.url, args.pid, None  # None: a gateway this run did not start
        else:
            gateway = stack.enter_context(Gateway())
            url, pid, settings_env = gateway.url, gateway.pid, gateway.settings_env
        record = provenance() | {"models": served_models(url), "settings_env": settings_env}
        before = record["machine"]
        result = asyncio.run(soak(args, url, pid))
    result |= record | {"loadavg_after": machine()["loadavg"], "duration_s": args.duration, "mix": args.mix}
    summary = result["summary"]
    print(f"rate {result['rate_rps']} req/s for {args.duration:.0f} s ({args.mix} mix); probe: {result['probe']}")
    print(markdown_table(result["windows"], list(result["windows"][0])) if result["windows"] else "no requests")
    print(
        f"\nsent {summary['requests']}, errors {summary['errors']} {summary['status']}, "
        f"p50/p95/p99 {summary['latency_ms']['p50']}/{summary['latency_ms']['p95']}/{summary['latency_ms']['p99']} ms; "
        f"RSS {result['rss_start_mib']} -> {result['rss_end_mib']} MiB ({result['rss_growth_percent']} %), "
        f"peak {result['rss_peak_mib']} MiB; loadavg {before['loadavg']} -> {result['loadavg_after']}"
    )
    update_performance(args.section, result)
    if args.json:
        save(Path(args.json), result)
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
