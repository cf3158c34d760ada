"""Summaries of load-generator records and the JSON / Markdown files they are written to."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.client import Record, loopback_target
from service.backends.base import Backend
from service.settings import Settings

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "reports"
PERFORMANCE_JSON = REPORTS / "performance.json"


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of ``values`` (NaN-free; an empty list gives zeros)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    array = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "p50": round(float(p50), 2),
        "p95": round(float(p95), 2),
        "p99": round(float(p99), 2),
        "max": round(float(array.max()), 2),
        "mean": round(float(array.mean()), 2),
    }


def summarize(records: Sequence[Record], wall_s: float) -> dict[str, Any]:
    """Throughput of answered-200 requests, latency percentiles over all requests, and counts by status."""
    ok = [record for record in records if record.status == "200"]
    return {
        "requests": len(records),
        "ok": len(ok),
        "wall_s": round(wall_s, 3),
        "throughput_rps": round(len(ok) / wall_s, 3) if wall_s > 0 else 0.0,
        "latency_ms": percentiles([record.latency_ms for record in records]),
        "status": dict(sorted(Counter(record.status for record in records).items())),
        "errors": sum(1 for record in records if record.status != "200"),
    }


def stage_means(records: Iterable[Record]) -> dict[str, float]:
    """Mean per-stage milliseconds from the responses' ``timings_ms`` (stages absent from a response count 0)."""
    timed = [record.timings_ms for record in records if record.timings_ms]
    stages = sorted({stage for timings in timed for stage in timings})
    return {stage: round(sum(t.get(stage, 0.0) for t in timed) / len(timed), 3) for stage in stages} if timed else {}


def machine() -> dict[str, Any]:
    """Which machine produced the figures, and how busy it was (other jobs share it)."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": metadata.version("onnxruntime"),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else [],
    }


def _git(*args: str, cwd: Path = REPO) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def uncommitted(cwd: Path = REPO) -> bool | None:
    """Whether tracked files outside ``reports/`` and ``README.md`` differ from the commit (None: not a git
    checkout). Those are what benchmarks and their report command write (the README's performance block): a run
    that follows another in one session finds them changed, while the code it measures is the commit's."""
    excluded = (":(exclude)reports", ":(exclude)README.md")
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded, cwd=cwd)
    return None if status is None else bool(status)


def provenance() -> dict[str, Any]:
    """What every benchmark record starts with, so a report can say what was measured: the commit (and whether the
    code had uncommitted changes), the UTC date, and the machine with its load average at the start."""
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": uncommitted(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def served_models(url: str) -> list[str] | None:
    """The default models a running gateway scores with (its ``/v1/models``); None when it does not say (e.g. it
    asks for an API key), so that a record never guesses the model. Like the load, asked of loopback only."""
    loopback_target(url)
    try:
        with urllib.request.urlopen(f"{url}/v1/models", timeout=10) as reply:
            models = json.loads(reply.read()).get("default_models")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return list(models) if isinstance(models, list) else None


# onnxruntime execution providers that run on a GPU (or another accelerator): a figure is a GPU figure only when a
# network really ran on one of these
ACCELERATOR_PROVIDERS = frozenset(
    {
        "CUDAExecutionProvider",
        "TensorrtExecutionProvider",
        "ROCMExecutionProvider",
        "MIGraphXExecutionProvider",
        "DmlExecutionProvider",
        "CoreMLExecutionProvider",
        "OpenVINOExecutionProvider",
    }
)


def served_by(backend: Backend, settings: Settings, names: Iterable[str]) -> dict[str, Any]:
    """What really ran each named (loaded) network as its backend reports it (onnxruntime: the session's own
    ``get_providers()``, so a provider asked for but unavailable shows as the fallback it ran on; Triton: server,
    backend and platform, Triton reporting no device), beside what the settings asked for. ``accelerator``: whether any
    network is known to have run on a GPU provider; no figure may be called a GPU one otherwise."""
    networks = {name: backend.describe(name) for name in names}
    used = {provider for described in networks.values() for provider in described.get("providers", [])}
    return {
        "backend": settings.backend,
        "ort_providers_asked": list(settings.ort_providers),
        "networks": networks,
        "accelerator": bool(used & ACCELERATOR_PROVIDERS),
    }


def served_by_text(record: dict[str, Any]) -> str:
    """One line for a console or a report: per network what ran it, and whether any figure is an accelerator's."""
    parts = []
    for name, described in record["networks"].items():
        if "providers" in described:
            parts.append(f"`{name}` {described['runtime']} on {', '.join(described['providers']) or 'nothing'}")
        else:
            platform = described.get("triton_backend") or described.get("platform") or "?"
            parts.append(f"`{name}` {described['runtime']}, backend {platform} (Triton reports no device)")
    asked = ", ".join(record["ort_providers_asked"])
    where = "on a GPU" if record["accelerator"] else "no network is known to have run on a GPU: no figure is a GPU one"
    return f"backend `{record['backend']}` (onnxruntime providers asked for: {asked}): {'; '.join(parts)}; {where}."


def settings_record(settings: Settings) -> dict[str, Any]:
    """The settings that move the figures of an in-process benchmark (the gateway's own sessions)."""
    return {
        "backend": settings.backend,
        "ort_providers": settings.ort_providers,
        "ort_intra_op_threads": settings.ort_intra_op_threads,
        "ort_inter_op_threads": settings.ort_inter_op_threads,
        "cpu_workers": settings.cpu_workers,
        "max_batch_size": settings.max_batch_size,
        "max_wait_ms": settings.max_wait_ms,
        "models": settings.default_models,
    }


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(column, "")) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(title: str, summary: dict[str, Any], settings: dict[str, Any]) -> str:
    latency = summary["latency_ms"]
    row = {"requests": summary["requests"], "ok": summary["ok"], "throughput (req/s)": summary["throughput_rps"]}
    row |= {f"{key} ms": latency[key] for key in ("p50", "p95", "p99", "max")}
    status = ", ".join(f"{key}: {value}" for key, value in summary["status"].items())
    return "\n\n".join(
        [
            f"# {title}",
            "Settings: " + ", ".join(f"`{key}={value}`" for key, value in settings.items()),
            markdown_table([row], list(row)),
            f"Answers by status: {status}",
        ]
    )


def save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def update_performance(section: str, data: dict[str, Any], path: Path = PERFORMANCE_JSON) -> None:
    """Store one benchmark's results under ``section`` of the performance JSON, keeping the other sections."""
    current = json.loads(path.read_text()) if path.exists() else {}
    current[section] = data
    save(path, current)
