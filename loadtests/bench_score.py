"""Issue-2 benchmark: one 640x480 one-face JPEG against the real gateway at concurrency 1 and 8.

Prints p50/p95 latency, throughput, the per-stage breakdown (the responses' ``timings_ms``) and the gateway
overhead ratio = (end-to-end - time inside model inference) / end-to-end, where inference time is the
response's ``detect_infer + quality_infer`` (target <= 15 % at concurrency 1). Starts its own server
(uvicorn on a free 127.0.0.1 port) unless ``--url`` is given.

    python -m loadtests.bench_score [--duration 30] [--concurrency 1 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from loadtests.client import LoopbackClient, Record, closed_loop
from loadtests.report import (
    machine,
    markdown_table,
    percentiles,
    provenance,
    served_models,
    stage_means,
    summarize,
    update_performance,
)
from loadtests.server import Gateway
from loadtests.workload import Payload, one_face_jpeg

INFERENCE_STAGES = ("detect_infer", "quality_infer")
IMAGE = "640x480 JPEG, one face (obama.jpg scaled into a grey canvas)"  # what ``one_face_jpeg((640, 480))`` makes


def overhead(records: list[Record]) -> dict[str, float]:
    """Overhead ratio per request, then its median and mean (only answered requests with timings count)."""
    ratios = [
        (r.latency_ms - sum(r.timings_ms.get(stage, 0.0) for stage in INFERENCE_STAGES)) / r.latency_ms
        for r in records
        if r.status == "200" and r.timings_ms and r.latency_ms > 0
    ]
    stats = percentiles(ratios)
    return {"median": round(stats["p50"], 4), "mean": round(stats["mean"], 4)}


async def measure(url: str, payload: Payload, concurrency: int, duration_s: float, warmup_s: float) -> dict[str, Any]:
    client = LoopbackClient(url, max_connections=max(8, concurrency))
    try:
        await closed_loop(client, lambda: payload, concurrency=concurrency, duration_s=warmup_s)
        records, wall = await closed_loop(client, lambda: payload, concurrency=concurrency, duration_s=duration_s)
    finally:
        await client.close()
    return {
        "concurrency": concurrency,
        **summarize(records, wall),
        "faces_per_request": round(sum(r.faces for r in records) / max(1, len(records)), 3),
        "stages_ms": stage_means(records),
        "overhead_ratio": overhead(records),
    }


def _print(results: list[dict[str, Any]]) -> None:
    rows = [
        {
            "concurrency": r["concurrency"],
            "requests": r["requests"],
            "req/s": r["throughput_rps"],
            "p50 ms": r["latency_ms"]["p50"],
            "p95 ms": r["latency_ms"]["p95"],
            "overhead (median)": f"{100 * r['overhead_ratio']['median']:.1f} %",
            "overhead (mean)": f"{100 * r['overhead_ratio']['mean']:.1f} %",
            "errors": r["errors"],
        }
        for r in results
    ]
    print(markdown_table(rows, list(rows[0])))
    stages = sorted({stage for r in results for stage in r["stages_ms"]})
    print()
    print(
        markdown_table(
            [
                {"stage (mean ms)": stage, **{f"c={r['concurrency']}": r["stages_ms"].get(stage, 0) for r in results}}
                for stage in stages
            ],
            ["stage (mean ms)", *(f"c={r['concurrency']}" for r in results)],
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.bench_score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="use a running gateway (loopback) instead of starting one")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each level")
    parser.add_argument("--section", default="bench_score", help="key in reports/performance.json")
    parser.add_argument("--env", nargs="*", default=[], metavar="KEY=VALUE", help="settings for the started gateway")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)

    payload = Payload(kind="face_vga", body=one_face_jpeg((640, 480)))
    record = provenance()
    before = record["machine"]
    with contextlib.ExitStack() as stack:
        gateway = None if args.url else stack.enter_context(Gateway(env=env))
        url = args.url or gateway.url
        models = served_models(url)
        results = [asyncio.run(measure(url, payload, c, args.duration, args.warmup)) for c in args.concurrency]
    after = machine()
    print(
        f"machine: {before['cpu']}, {before['cores']} cores, "
        f"loadavg before {before['loadavg']} after {after['loadavg']}"
    )
    _print(results)
    update_performance(
        args.section,
        {
            **record,
            "models": models,
            "settings_env": gateway.settings_env if gateway else None,  # None: a gateway this run did not start
            "image": IMAGE,
            "loadavg_after": after["loadavg"],
            "duration_s": args.duration,
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
