"""Issue-18 benchmark: ``/score`` under variants of the gateway's CPU settings (executor workers x onnxruntime
intra-op threads of the detector x those of the quality networks), to choose the defaults by measurement.

One gateway per variant, all started at once; each round runs every concurrency level on every gateway in turn, in
short bursts, so the machine's drift (~30 % within hours, and faster swings) hits the variants of a round alike, and
each variant is compared with the current setting round by round (paired differences, a 95 % t-interval over the
rounds). The order of the gateways rotates from round to round, so that no variant always runs first (right after
the previous level's heaviest load) or last; with rounds a multiple of the variants, each takes every place equally
often.

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
import asyncio
import contextlib
import statistics
from dataclasses import dataclass
from typing import Any

from scipy import stats

from loadtests.bench_score import IMAGE, measure
from loadtests.performance_report import settings_table
from loadtests.report import machine, provenance, served_models, update_performance
from loadtests.server import Gateway
from loadtests.workload import Payload, one_face_jpeg
from service.settings import Settings

# cpu_workers:ort_intra_op_threads[:ort_quality_intra_op_threads]; the current defaults are always among them
VARIANTS = ("2:2", "3:2", "2:2:1", "3:2:1", "3:1")
MAX_P50_RISE = 0.05
MAX_RPS_DROP = 0.05
CONFIDENCE = 0.95


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


def paired(differences: list[float]) -> dict[str, float]:
    """Mean of per-round differences and its two-sided t-interval (``CONFIDENCE``)."""
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return {"mean": round(mean, 3), "low": float("nan"), "high": float("nan")}
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(differences) - 1) * statistics.stdev(differences)
    half /= len(differences) ** 0.5
    return {"mean": round(mean, 3), "low": round(mean - half, 3), "high": round(mean + half, 3)}


def compare(levels: list[dict[str, Any]], current: str) -> list[dict[str, Any]]:
    """Per variant and concurrency: mean throughput and p50 over the rounds, and the paired differences from the
    ``current`` variant in the same rounds (throughput in req/s, p50 relative)."""
    by = {(row["variant"], row["concurrency"], row["round"]): row for row in levels}
    rows = []
    for variant, concurrency in dict.fromkeys((row["variant"], row["concurrency"]) for row in levels):
        rounds = sorted(r for v, c, r in by if (v, c) == (variant, concurrency) and (current, c, r) in by)
        pairs = [(by[variant, concurrency, r], by[current, concurrency, r]) for r in rounds]
        mine = [m for m, _ in pairs]
        rows.append(
            {
                "variant": variant,
                "concurrency": concurrency,
                "rounds": len(rounds),
                "req/s": round(statistics.fmean(row["throughput_rps"] for row in mine), 2),
                "p50 ms": round(statistics.fmean(row["latency_ms"]["p50"] for row in mine), 2),
                "errors": sum(row["errors"] for row in mine),
                "req/s vs current": paired([m["throughput_rps"] - b["throughput_rps"] for m, b in pairs]),
                "p50 vs current": paired([m["latency_ms"]["p50"] / b["latency_ms"]["p50"] - 1 for m, b in pairs]),
            }
        )
    return rows


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


def schedule(labels: list[str], rounds: int) -> list[list[str]]:
    """The gateways' order in each round: rotated by one place per round."""
    return [labels[number % len(labels) :] + labels[: number % len(labels)] for number in range(rounds)]


def run_levels(
    variants: list[Variant], rounds: int, concurrencies: list[int], duration: float, warmup: float
) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Every level on every variant's gateway, in turn, ``rounds`` times; and the models the gateways serve."""
    payload = Payload(kind="face_vga", body=one_face_jpeg((640, 480)))
    levels = []
    with contextlib.ExitStack() as stack:
        gateways = {v.label: stack.enter_context(Gateway(env=v.env())) for v in variants}
        models = served_models(next(iter(gateways.values())).url)
        for number, order in enumerate(schedule(list(gateways), rounds)):
            for concurrency in concurrencies:
                for label in order:
                    level = asyncio.run(measure(gateways[label].url, payload, concurrency, duration, warmup))
                    levels.append({"variant": label, "round": number, "loadavg": machine()["loadavg"], **level})
                    print(label, number, concurrency, level["throughput_rps"], level["latency_ms"]["p50"], flush=True)
    return levels, models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.bench_settings", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="cpu_workers:ort_intra_op_threads")
    parser.add_argument("--rounds", type=int, default=20, help="best a multiple of the variants")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per level, variant and round")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--section", default="bench_settings", help="key in reports/performance.json")
    args = parser.parse_args(argv)
    current = Variant.current()
    variants = list(dict.fromkeys([current, *(Variant.parse(text) for text in args.variants)]))
    record = provenance()
    levels, models = run_levels(variants, args.rounds, sorted(set(args.concurrency)), args.duration, args.warmup)
    rows = compare(levels, current.label)
    choice = choose(rows, current.label)
    section = {
        **record,
        "models": models,
        "variants": {v.label: v.env() for v in variants},
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
