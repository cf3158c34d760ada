"""Cost per face of every quality method as the gateway runs it, against the analytic ``diffiqa`` scorer.

One call = the method's ``prepare`` (normalisation; diffiqa's mirrors and noisy copies) + inference of all its
networks' rows + ``postprocess``, for 1 face and for 32 faces in one batch, in the gateway's own onnxruntime
sessions (``FIQA_ORT_INTRA_OP_THREADS`` etc. apply; ``--threads`` overrides). The methods are timed in interleaved
rounds so that a change in the shared host's load hits all of them alike; a figure is the median over rounds of the
mean per face. Multiply-adds per face are counted from the card's ONNX graph (``fiqa.evaluate.cost``) and, for
``diffiqa``, from its 2 + 2n recognition passes: a cost that no host load moves.

    python -m loadtests.bench_quality [--rounds 5] [--threads 1] [--section bench_quality]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from loadtests.bench_models import RawModels
from loadtests.report import machine, markdown_table, provenance, settings_record, update_performance
from service.quality.base import QualityMethod
from service.runtime import Runtime

REFERENCE = "diffiqa"
BATCHES = (1, 32)


def call_ms(raw: RawModels, method: QualityMethod, crops: np.ndarray, repeats: int) -> float:
    """Mean wall time per face of ``repeats`` full method calls on ``crops`` (one warm-up call first)."""

    def once() -> None:
        inputs = method.prepare(crops)
        outputs = {network: raw.backend.infer_sync(network, tensors) for network, tensors in inputs.items()}
        method.postprocess(outputs, len(crops))

    once()
    started = time.perf_counter()
    for _ in range(repeats):
        once()
    return (time.perf_counter() - started) * 1000.0 / repeats / len(crops)


def multiply_adds_per_face(name: str, raw: RawModels) -> int | None:
    """From the card's ONNX graph, or diffiqa's recognition passes; None for a card running others' networks."""
    from fiqa.evaluate.cost import diffiqa_multiply_adds, own_multiply_adds

    if name == REFERENCE:
        return diffiqa_multiply_adds(raw.runtime.registry)
    return own_multiply_adds(raw.runtime.registry, name)


def measure(raw: RawModels, rounds: int, repeats: int, batches: tuple[int, ...] = BATCHES) -> list[dict[str, Any]]:
    """One row per quality method: ms per face and share of diffiqa's at each batch, multiply-adds and share."""
    rng = np.random.default_rng(0)
    crops = {batch: rng.integers(0, 256, (batch, 112, 112, 3), dtype=np.uint8) for batch in batches}
    names = sorted(raw.runtime.methods)
    times: dict[tuple[str, int], list[float]] = {(n, b): [] for n in names for b in batches}
    for _ in range(rounds):
        for name in names:
            for batch in batches:
                calls = max(2, repeats // batch) if name != REFERENCE else 2
                times[name, batch].append(call_ms(raw, raw.runtime.methods[name], crops[batch], calls))
    per_face = {key: statistics.median(values) for key, values in times.items()}
    reference = multiply_adds_per_face(REFERENCE, raw)
    rows = []
    for name in names:
        macs = multiply_adds_per_face(name, raw)
        row: dict[str, Any] = {"method": name}
        for batch in batches:
            ms = per_face[name, batch]
            row[f"ms/face b{batch}"] = round(ms, 2)
            row[f"share of diffiqa b{batch}"] = f"1/{per_face[REFERENCE, batch] / ms:.1f}"
        row["M multiply-adds"] = round(macs / 1e6, 1) if macs else ""
        row["share of diffiqa (MACs)"] = f"1/{reference / macs:.1f}" if macs and reference else ""
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.bench_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median over them)")
    parser.add_argument("--repeats", type=int, default=32, help="calls per batch-1 timing (fewer for batch 32)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: settings)")
    parser.add_argument("--section", default="bench_quality", help="key in reports/performance.json")
    args = parser.parse_args(argv)
    threads = {} if args.threads is None else {"ort_intra_op_threads": args.threads}
    raw = RawModels(Runtime.from_env(backend="onnxruntime", **threads))
    settings = raw.runtime.settings
    record = provenance()
    rows = measure(raw, args.rounds, args.repeats)
    update_performance(
        args.section,
        {
            **record,
            "models": [row["method"] for row in rows],
            "settings": settings_record(settings),
            "ort_intra_op_threads": settings.ort_intra_op_threads,
            "rows": rows,
            "loadavg_after": machine()["loadavg"],
        },
    )
    print(f"## Cost per face ({settings.ort_intra_op_threads} intra-op threads)\n")
    print(markdown_table(rows, list(rows[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
