"""The locust file drives a real gateway with the mix, stops by itself, and refuses non-loopback hosts."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.server import REPO, Gateway

# Only looked up, never imported here: importing locust monkey-patches the whole process with gevent.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("locust") is None, reason="locust is in the 'bench' extra: pip install -e '.[bench]'"
    ),
]


def _locust(host: str, out: Path, seconds: float) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless"]
    command += ["-u", "2", "-r", "2", "--host", host, "--max-seconds", str(seconds), "--csv", str(out / "run")]
    return subprocess.run(command, cwd=out, capture_output=True, text=True, timeout=180, check=False)


def test_locust_runs_the_mix_and_stops_by_itself(tmp_path: Path) -> None:
    with Gateway(log=tmp_path / "gateway.log") as gateway:
        done = _locust(gateway.url, tmp_path, seconds=8)
        log_lines = (tmp_path / "gateway.log").read_text().splitlines()
    assert done.returncode == 0, done.stderr[-2000:]
    with open(tmp_path / "run_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) >= 2
    assert int(total["Failure Count"]) == 0
    assert all(name.startswith("/score [") for name in rows if name != "Aggregated")
    # The gateway's logs are JSON lines; each /score got one access line with a request id.
    entries = [json.loads(line) for line in log_lines if line.startswith("{")]
    assert len(entries) == len(log_lines)
    access = [entry for entry in entries if entry["logger"] == "service.access" and entry["route"] == "/score"]
    assert len(access) >= int(total["Request Count"])
    assert all(len(entry["request_id"]) == 32 and entry["status"] == 200 for entry in access)


def test_locust_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    done = _locust("http://192.0.2.10:8000", tmp_path, seconds=30)
    assert done.returncode == 2
    assert "non-loopback" in done.stderr
