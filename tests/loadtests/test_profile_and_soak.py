"""py-spy output analysis, and the soak's windows and memory figures against a local stand-in server."""

from __future__ import annotations

import argparse
import asyncio
import os

import pytest

from loadtests.profile_score import analyse
from loadtests.soak import soak
from tests.loadtests.fake_gateway import fake_gateway

RAW = "\n".join(
    [
        "Thread 1;_worker (concurrent/futures/thread.py:83);infer_sync (backends/onnxruntime.py:81);"
        "run (onnxruntime/capi/onnxruntime_inference_collection.py:406) 80",
        "Thread 2;_worker (concurrent/futures/thread.py:83);decode_image (service/decode.py:60);"
        "load (PIL/ImageFile.py:425) 15",
        "Thread 3;run_forever (asyncio/base_events.py:607);_run_once (asyncio/base_events.py:1900) 5",
    ]
)


def test_analyse_splits_busy_samples_by_pipeline_part() -> None:
    result = analyse(RAW)
    assert result["samples"] == 100
    assert result["parts_percent"]["model inference (onnxruntime run)"] == 80.0
    assert result["parts_percent"]["decode (Pillow)"] == 15.0
    assert result["parts_percent"]["other (asyncio event loop, thread pools)"] == 5.0
    top = {row["function"]: row["inclusive %"] for row in result["top_functions"]}
    assert top["_worker (concurrent/futures/thread.py:83)"] == 95.0
    outside = {row["function"] for row in result["top_self_outside_models"]}
    assert "load (PIL/ImageFile.py:425)" in outside
    assert not any("onnxruntime" in name for name in outside)


def test_soak_reports_windows_errors_and_memory() -> None:
    args = argparse.Namespace(
        mix="face_vga", seed=0, connections=16, warmup=0.2, rate=None, fraction=0.5, probe=0.5,
        probe_concurrency=2, duration=2.0, timeout=5.0, window=1.0, memory_every=0.2,
    )  # fmt: skip

    async def run() -> dict:
        async with fake_gateway(delay_s=0.02) as server:
            return await soak(args, server.url, os.getpid())

    result = asyncio.run(run())
    probe = result["probe"]["throughput_rps"]
    assert probe > 5  # two users, 20 ms answers
    assert result["rate_rps"] == pytest.approx(0.5 * probe, rel=0.01)
    assert [window["window s"] for window in result["windows"]] == ["0-1", "1-2"]
    assert sum(window["sent"] for window in result["windows"]) == result["summary"]["requests"]
    assert result["summary"]["errors"] == 0
    assert result["rss_start_mib"] > 10 and result["rss_peak_mib"] >= result["rss_start_mib"] * 0.5
    assert result["rss_growth_percent"] is not None
