"""Triton path vs embedded path: p50/p95 latency of /score for one 640x480 one-face JPEG at concurrency 1 and 16.

Starts a real tritonserver (``make triton-env``; Python-backend twin of model_repository/ with onnxruntime
inside, the only Triton backend installable on this CPU host) and two real gateways (uvicorn on free loopback
ports): one with FIQA_BACKEND=onnxruntime, one with FIQA_BACKEND=triton. Prints figures; it asserts nothing.
On a 2-core host the load generator, the gateway and Triton share the CPU, so the Triton path pays its hops
(serialisation, gRPC, the Python stub's IPC) without any GPU to win them back: read the gap as that cost.

    python -m loadtests.bench_backends [--duration 20] [--concurrency 1 16] [--protocol grpc] [--shm]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tritonclient.http as triton_http

from export.local_triton import LocalTriton
from export.repository import build_repository
from export.settings import ExportSettings
from loadtests.bench_score import measure
from loadtests.report import machine, markdown_table, provenance, served_models, update_performance
from loadtests.server import Gateway
from loadtests.workload import Payload, one_face_jpeg


@contextlib.contextmanager
def twin_triton() -> Iterator[LocalTriton]:
    """A real tritonserver (``make triton-env``) serving the Python-backend twin of model_repository/, built from
    the model cards in a temporary folder; stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="fiqa-bench-triton-") as tmp:
        repository = Path(tmp) / "repository"
        build_repository(ExportSettings(), out_dir=repository, python_twin=True)
        server = LocalTriton(repository)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def triton_statistics(server: LocalTriton) -> list[dict[str, Any]]:
    """Per model: requests, rows (inference_count), executions and the mean rows per execution."""
    client = triton_http.InferenceServerClient(server.http_url)
    try:
        stats = client.get_inference_statistics()["model_stats"]
    finally:
        client.close()
    rows = []
    for model in stats:
        executions = int(model.get("execution_count", 0))
        inferences = int(model.get("inference_count", 0))
        rows.append(
            {
                "model": model["name"],
                "requests": int(model["inference_stats"]["success"]["count"]),
                "rows (inference_count)": inferences,
                "executions": executions,
                "rows/execution": round(inferences / executions, 2) if executions else 0,
                "largest batch": max((int(b["batch_size"]) for b in model.get("batch_stats", [])), default=0),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.bench_backends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per backend and concurrency level")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--shm", action="store_true", help="tensors through system shared memory")
    parser.add_argument("--twin-threads", type=int, default=2, help="onnxruntime threads per Triton model instance")
    args = parser.parse_args(argv)

    payload = Payload(kind="face_vga", body=one_face_jpeg((640, 480)))
    os.environ["FIQA_TWIN_THREADS"] = str(args.twin_threads)
    record = provenance()
    results: list[dict[str, Any]] = []
    models: list[str] = []
    settings_env: dict[str, dict[str, str]] = {}
    with twin_triton() as server:
        triton_env = {
            "FIQA_BACKEND": "triton",
            "FIQA_TRITON_PROTOCOL": args.protocol,
            "FIQA_TRITON_URL": server.grpc_url if args.protocol == "grpc" else server.http_url,
            "FIQA_TRITON_SHM": str(args.shm).lower(),
            "FIQA_TRITON_TIMEOUT_S": "60",
        }
        for label, env in (("embedded (onnxruntime)", {"FIQA_BACKEND": "onnxruntime"}), ("triton", triton_env)):
            with Gateway(env=env) as gateway:
                settings_env[label] = gateway.settings_env
                models += [name for name in served_models(gateway.url) or [] if name not in models]
                for concurrency in args.concurrency:
                    result = asyncio.run(measure(gateway.url, payload, concurrency, args.duration, args.warmup))
                    results.append({"backend": label, **result})
        statistics = triton_statistics(server)

    info = record["machine"]
    path = f"triton {args.protocol}{' + shm' if args.shm else ''}, twin threads {args.twin_threads}"
    print(f"machine: {info['cpu']}, {info['cores']} cores; {path}; 640x480 one-face JPEG, {args.duration:g} s/level")
    rows = [
        {
            "backend": r["backend"],
            "concurrency": r["concurrency"],
            "requests": r["requests"],
            "req/s": r["throughput_rps"],
            "p50 ms": r["latency_ms"]["p50"],
            "p95 ms": r["latency_ms"]["p95"],
            "detect_infer ms": r["stages_ms"].get("detect_infer", 0),
            "quality_infer ms": r["stages_ms"].get("quality_infer", 0),
            "errors": r["errors"],
        }
        for r in results
    ]
    print(markdown_table(rows, list(rows[0])))
    print()
    print("Triton statistics (whole run, warm-up included):")
    print(markdown_table(statistics, list(statistics[0])))
    record |= {
        "models": models or None,
        "settings_env": settings_env,
        "path": path,
        "duration_s": args.duration,
        "rows": rows,
        "triton": statistics,
        "loadavg_after": machine()["loadavg"],
    }
    update_performance("bench_backends", record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
