"""Issue-18 benchmark: ``/score`` under variants of the gateway's CPU settings (executor workers x onnxruntime
intra-op threads of the detector x those of the quality networks), to choose the defaults by measurement.

One gateway per variant, measured side by side in rounds of short bursts whose order rotates
(``loadtests.paired``); each variant is compared with the current setting round by round (paired differences, a
95 % t-interval over the rounds).

Rule, stated before measuring (the latency arm was added before the run that first applied it): a variant
qualifies, with no errors, by either arm:
- throughput: its req/s at the highest concurrency is higher with a paired interval that excludes 0, and its p50 at
  concurrency 1 is on average at most ``MAX_P50_RISE`` above the current one's;
- latency: its p50 at concurrency 1 is lower with a paired interval that excludes 0, and its req/s at the highest
  concurrency is on average at most ``MAX_RPS_DROP`` below the current one's.
Among qualified variants the highest mean req/s at the highest concurrency wins; with none, the current stays.

    python -m loadtests.bench_settings [--rounds 20] [--duration 2] [--variants 2:2 3:2 2:2:1 3:2:1 3:1]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from loadtests.bench_score import IMAGE
from loadtests.paired import CONFIDENCE, compare, run_rounds
from loadtests.performance_report import settings_table
from loadtests.report import machine, provenance, update_performance
from service.settings import Settings

# cpu_workers:ort_intra_op_threads[:ort_quality_intra_op_threads]; the current defaults are always among them
VARIANTS = ("2:2", "3:2", "2:2:1", "3:2:1", "3:1")
MAX_P50_RISE = 0.05
MAX_RPS_DROP = 0.05


@dataclass(frozen=True)
class Variant:
    """One setting of the executor's workers and of each session's intra-op threads (the detector's, and the quality
    networks')."""

    workers: int
    threads: int
    quality_threads: int

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``workers:threads`` or ``workers:threads:quality_threads`` (without it, the quality networks take
        ``threads``)."""
        parts = [int(part) for part in text.split(":")]
        if len(parts) not in (2, 3) or min(parts) < 1:
            raise ValueError(f"{text!r}: workers:threads[:quality_threads], each >= 1")
        return cls(*parts) if len(parts) == 3 else cls(*parts, parts[1])

    @classmethod
    def current(cls) -> Variant:
        """The code's defaults (``service/settings.py``), whatever the caller's environment sets."""
        fields = Settings.model_fields
        threads = (fields[name].default for name in ("ort_intra_op_threads", "ort_quality_intra_op_threads"))
        return cls(fields["cpu_workers"].default, *threads)

    @property
    def label(self) -> str:
        quality = f":{self.quality_threads}" if self.quality_threads != self.threads else ""
        return f"{self.workers}:{self.threads}{quality}"

    def env(self) -> dict[str, str]:
        return {
            "FIQA_CPU_WORKERS": str(self.workers),
            "FIQA_ORT_INTRA_OP_THREADS": str(self.threads),
            "FIQA_ORT_QUALITY_INTRA_OP_THREADS": str(self.quality_threads),
        }


def choose(rows: list[dict[str, Any]], current: str) -> dict[str, Any]:
    """The rule of the module's docstring, applied to ``compare``'s rows."""
    top = max(row["concurrency"] for row in rows)
    single = {row["variant"]: row for row in rows if row["concurrency"] == 1}
    loaded = {row["variant"]: row for row in rows if row["concurrency"] == top}
    base_rps = loaded[current]["req/s"]

    def arms(variant: str) -> list[str]:
        rps, p50 = loaded[variant]["req/s vs current"], single[variant]["p50 vs current"]
        found = []
        if rps["low"] > 0 and p50["mean"] <= MAX_P50_RISE:
            found.append("throughput")
        if p50["high"] < 0 and rps["mean"] >= -MAX_RPS_DROP * base_rps:
            found.append("latency")
        return found

    clean = [
        variant
        for variant in loaded
        if variant != current and variant in single and loaded[variant]["errors"] == single[variant]["errors"] == 0
    ]
    qualified = {variant: found for variant in clean if (found := arms(variant))}
    best = max(qualified, key=lambda variant: loaded[variant]["req/s"], default=current)
    return {
        "current": current,
        "chosen": best,
        "qualified": list(qualified),
        "arms": qualified,
        "rule": f"no errors, and either req/s at concurrency {top} higher (paired {CONFIDENCE:.0%} interval > 0) with "
        f"p50 at concurrency 1 at most {MAX_P50_RISE:.0%} higher on average, or p50 at concurrency 1 lower (paired "
        f"{CONFIDENCE:.0%} interval < 0) with req/s at concurrency {top} at most {MAX_RPS_DROP:.0%} lower on "
        "average; highest req/s among those; else the current",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.bench_settings", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="workers:threads[:quality_threads]")
    parser.add_argument("--rounds", type=int, default=20, help="best a multiple of the variants")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per level, variant and round")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--section", default="bench_settings", help="key in reports/performance.json")
    args = parser.parse_args(argv)
    current = Variant.current()
    variants = list(dict.fromkeys([current, *(Variant.parse(text) for text in args.variants)]))
    record = provenance()
    envs = {variant.label: variant.env() for variant in variants}
    levels, models = run_rounds(envs, args.rounds, sorted(set(args.concurrency)), args.duration, args.warmup)
    rows = compare(levels, current.label)
    choice = choose(rows, current.label)
    section = {
        **record,
        "models": models,
        "variants": envs,
        "image": IMAGE,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "levels": levels,
        "rows": rows,
        "choice": choice,
        "loadavg_after": machine()["loadavg"],
    }
    print("\n".join(settings_table(section)))
    update_performance(args.section, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
