"""Where /score spends its CPU outside the models: py-spy samples every thread of a real gateway under load.

Starts the gateway, drives it with ``--concurrency`` users sending a 640x480 one-face JPEG, records
``py-spy record --format raw`` for ``--duration`` seconds, and prints the share of busy samples per pipeline
part and the top functions (inclusive). py-spy needs ptrace rights on the gateway (root or same user with
``kernel.yama.ptrace_scope`` = 0).

    python -m loadtests.profile_score [--duration 20] [--concurrency 1] [--env FIQA_...=...]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from loadtests.client import LoopbackClient, closed_loop
from loadtests.report import machine, markdown_table, provenance, served_models, update_performance
from loadtests.server import Gateway
from loadtests.workload import Payload, one_face_jpeg

# Pipeline parts, matched on the innermost frame (of the gateway's code or a library) that names them.
PARTS = (
    ("model inference (onnxruntime run)", ("onnxruntime_inference_collection.py",)),
    ("decode (Pillow)", ("decode_image",)),
    ("detector letterbox / post-processing", ("letterbox", "service/detect.py")),
    ("align (norm_crop)", ("service/align.py",)),
    ("quality prepare (perturb, normalise)", ("prepare", "perturb", "network_input")),
    ("quality postprocess / scores", ("postprocess", "to_score")),
    ("micro-batcher (concatenate, futures)", ("service/batching.py",)),
    ("response building (pydantic, JSON)", ("pydantic", "json", "jsonable_encoder", "_results", "serialize")),
    ("logging / metrics", ("service/logs.py", "prometheus_client", "logging/")),
    ("HTTP (uvicorn protocol, starlette, fastapi)", ("uvicorn/protocols", "starlette/", "fastapi/", "h11/")),
)


def _part(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in PARTS:
            if any(needle in frame for needle in needles):
                return name
    return "other (asyncio event loop, thread pools)"


def analyse(raw: str, top: int = 15) -> dict[str, Any]:
    """Shares of busy samples by part and the top functions by inclusive samples, from py-spy's raw output."""
    parts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")[1:]  # the first entry is the thread
        total += count
        parts[_part(stack)] += count
        for frame in set(stack):
            inclusive[frame] += count
        if stack and "onnxruntime" not in stack[-1]:
            leaves[stack[-1]] += count
    share = {name: round(100.0 * n / total, 1) for name, n in parts.most_common()} if total else {}
    functions = [
        {"function": frame, "inclusive %": round(100.0 * n / total, 1)} for frame, n in inclusive.most_common(top)
    ]
    outside = [{"function": frame, "self %": round(100.0 * n / total, 1)} for frame, n in leaves.most_common(top)]
    return {"samples": total, "parts_percent": share, "top_functions": functions, "top_self_outside_models": outside}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.profile_score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--env", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--section", default="profile", help="key in reports/performance.json")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    env = dict(item.split("=", 1) for item in args.env)
    payload = Payload(kind="face_vga", body=one_face_jpeg((640, 480)))
    with Gateway(env=env) as gateway, tempfile.TemporaryDirectory() as tmp:
        record = provenance() | {"models": served_models(gateway.url), "settings_env": gateway.settings_env}
        out = Path(tmp) / "profile.txt"

        async def load() -> None:
            client = LoopbackClient(gateway.url)
            await closed_loop(client, lambda: payload, concurrency=args.concurrency, duration_s=args.duration + 4)
            await client.close()

        driver = threading.Thread(target=asyncio.run, args=(load(),))
        driver.start()
        command = [
            py_spy,
            "record",
            "--pid",
            str(gateway.pid),
            "--duration",
            str(args.duration),
            "--rate",
            str(args.rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ]
        subprocess.run(command, check=True, capture_output=True)
        driver.join()
        result = analyse(out.read_text())
    result |= record | {"concurrency": args.concurrency, "loadavg_after": machine()["loadavg"]}
    print(
        f"busy samples: {result['samples']} (py-spy {args.rate} Hz, {args.duration} s, concurrency {args.concurrency})"
    )
    print(
        markdown_table(
            [{"part": k, "% of busy samples": v} for k, v in result["parts_percent"].items()],
            ["part", "% of busy samples"],
        )
    )
    print()
    print(markdown_table(result["top_functions"], ["function", "inclusive %"]))
    print()
    print(markdown_table(result["top_self_outside_models"], ["function", "self %"]))
    update_performance(args.section, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
