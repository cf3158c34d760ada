"""Side-by-side ``/score`` runs of gateway settings, paired by round: the design for any A/B of gateways on this
machine, whose speed swings within minutes by as much as the effects measured.

One gateway per setting, all started at once; each round runs every concurrency level on every gateway in turn, in
short bursts, so the drift hits the settings of a round alike. The gateways' order rotates from round to round, so
no setting always runs first (right after the previous level's heaviest load) or last; with rounds a multiple of
the settings, each takes every place equally often. Each setting is then compared with a reference setting round by
round: the mean of the paired differences and its two-sided t-interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from typing import Any

from scipy import stats

from loadtests.bench_score import measure
from loadtests.report import machine, served_models
from loadtests.server import Gateway
from loadtests.workload import Payload, one_face_jpeg

CONFIDENCE = 0.95


def paired(differences: list[float]) -> dict[str, float]:
    """Mean of per-round differences and its two-sided t-interval (``CONFIDENCE``)."""
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return {"mean": round(mean, 3), "low": float("nan"), "high": float("nan")}
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(differences) - 1) * statistics.stdev(differences)
    half /= len(differences) ** 0.5
    return {"mean": round(mean, 3), "low": round(mean - half, 3), "high": round(mean + half, 3)}


def interval_text(value: dict[str, float], scale: float = 1.0, unit: str = "") -> str:
    """A paired difference: mean [low, high]."""
    return f"{value['mean'] * scale:+.2f}{unit} [{value['low'] * scale:+.2f}, {value['high'] * scale:+.2f}]"


def schedule(labels: list[str], rounds: int) -> list[list[str]]:
    """The gateways' order in each round: rotated by one place per round."""
    return [labels[number % len(labels) :] + labels[: number % len(labels)] for number in range(rounds)]


def run_rounds(
    envs: dict[str, dict[str, str]], rounds: int, concurrencies: list[int], duration: float, warmup: float
) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Every level on the gateway of every setting (``label -> FIQA_* environment``), in the rotating order,
    ``rounds`` times, on a 640x480 one-face JPEG; and the models the gateways serve."""
    payload = Payload(kind="face_vga", body=one_face_jpeg((640, 480)))
    levels = []
    with contextlib.ExitStack() as stack:
        gateways = {label: stack.enter_context(Gateway(env=env)) for label, env in envs.items()}
        models = served_models(next(iter(gateways.values())).url)
        for number, order in enumerate(schedule(list(gateways), rounds)):
            for concurrency in concurrencies:
                for label in order:
                    level = asyncio.run(measure(gateways[label].url, payload, concurrency, duration, warmup))
                    levels.append({"variant": label, "round": number, "loadavg": machine()["loadavg"], **level})
                    print(label, number, concurrency, level["throughput_rps"], level["latency_ms"]["p50"], flush=True)
    return levels, models


def compare(levels: list[dict[str, Any]], current: str) -> list[dict[str, Any]]:
    """Per setting and concurrency: mean throughput and p50 over the rounds, and the paired differences from the
    ``current`` setting in the same rounds (throughput in req/s, p50 relative)."""
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
