"""Loopback-only HTTP client, open-loop scheduling and the summaries, against a tiny local HTTP server."""

from __future__ import annotations

import asyncio
import json

import pytest

from loadtests import openloop
from loadtests.client import LoopbackClient, NotLoopback, Record, closed_loop, loopback_target
from loadtests.openloop import open_loop
from loadtests.report import percentiles, stage_means, summarize
from loadtests.workload import Payload
from tests.loadtests.fake_gateway import fake_gateway

BODY = Payload(kind="face_vga", body=b"\xff\xd8 not decoded by the fake")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80/x"])
def test_loopback_targets_are_accepted(url: str) -> None:
    host, port = loopback_target(url)
    assert host in {"127.0.0.1", "localhost", "::1"}
    assert port > 0


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3:8000", "http://8.8.8.8", "https://127.0.0.1:8000", "ftp://localhost", "127.0.0.1:80"]
)
def test_other_targets_are_refused(url: str) -> None:
    with pytest.raises(NotLoopback):
        loopback_target(url)


def test_openloop_cli_refuses_non_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        openloop.main(["--url", "http://192.0.2.1:8000", "--rate", "1", "--duration", "1"])
    assert exit_info.value.code == 2
    assert "non-loopback" in capsys.readouterr().err


def test_client_keeps_connections_alive_and_reads_both_framings() -> None:
    async def scenario() -> tuple[list, int, list]:
        async with fake_gateway() as server:
            client = LoopbackClient(server.url, max_connections=2)
            replies = [await client.request("POST", "/score", b"abc") for _ in range(3)]
            replies.append(await client.request("POST", "/score?chunked", b"xyz"))
            replies.append(await client.request("POST", "/score?status=503", b""))
            await client.close()
            return replies, server.connections, server.requests

    replies, connections, requests = asyncio.run(scenario())
    assert [reply.status for reply in replies] == [200, 200, 200, 200, 503]
    assert replies[3].json() == replies[0].json()
    assert replies[0].json()["timings_ms"]["detect_infer"] == 1.0
    assert connections == 1  # sequential requests reuse one connection
    assert requests[0] == ("/score", b"abc")


def test_open_loop_sends_on_schedule_whatever_the_latency() -> None:
    async def scenario() -> tuple[list[Record], float, int]:
        async with fake_gateway(delay_s=0.3) as server:
            client = LoopbackClient(server.url)
            records, wall = await open_loop(client, lambda: BODY, rate=40, duration_s=0.5, timeout_s=5)
            await client.close()
            return records, wall, server.connections

    records, wall, connections = asyncio.run(scenario())
    assert len(records) == 20
    assert all(record.status == "200" for record in records)
    # Each answer takes 0.3 s, longer than the 25 ms between sends: a closed loop would have sent ~2.
    assert connections > 5
    assert all(record.latency_ms >= 290 for record in records)
    starts = sorted(record.started for record in records)
    assert starts[-1] == pytest.approx(19 / 40, abs=0.05)
    assert wall < 1.5


def test_timeouts_and_status_errors_are_counted() -> None:
    async def scenario() -> list[Record]:
        async with fake_gateway(delay_s=0.5) as server:
            client = LoopbackClient(server.url)
            slow, _ = await open_loop(client, lambda: BODY, rate=10, duration_s=0.2, timeout_s=0.1)
            failing = Payload(kind="x", body=b"", query="status=503")
            refused, _ = await closed_loop(client, lambda: failing, concurrency=1, duration_s=0.1)
            await client.close()
            return slow + refused

    records = asyncio.run(scenario())
    summary = summarize(records, wall_s=1.0)
    assert summary["status"]["timeout"] == 2
    assert summary["status"]["503"] >= 1
    assert summary["errors"] == summary["requests"]
    assert summary["ok"] == 0 and summary["throughput_rps"] == 0.0


def test_summaries() -> None:
    records = [Record("a", i / 10, float(i + 1), "200", {"decode": 2.0, "total": float(i)}, 1) for i in range(100)]
    records.append(Record("a", 11.0, 500.0, "503"))
    summary = summarize(records, wall_s=10.0)
    assert summary["requests"] == 101 and summary["ok"] == 100 and summary["errors"] == 1
    assert summary["throughput_rps"] == 10.0
    assert summary["latency_ms"]["max"] == 500.0
    assert summary["latency_ms"]["p50"] == 51.0
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    assert stage_means(records) == {"decode": 2.0, "total": 49.5}
    json.dumps(summary)  # the report is JSON-serialisable
