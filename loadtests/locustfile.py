"""Locust users sending the realistic capture mix (``loadtests.workload.MIX``) to a loopback gateway.

Each user is a kiosk/camera sending one capture every 0.5-2 s. Requests are named by kind (``/score
[face_12mp]``) so locust's table shows latency per frame size. The run stops by itself after
``--max-seconds`` (default 60) even without ``--run-time``, and refuses a non-loopback ``--host``.

    locust -f loadtests/locustfile.py --headless -u 8 -r 2 --max-seconds 60 --host http://127.0.0.1:8000
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import gevent
from locust import FastHttpUser, between, events, task

if __package__ in (None, ""):  # locust imports this file by path; the repository root may not be on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests.client import NotLoopback, loopback_target
from loadtests.workload import Mix

log = logging.getLogger("loadtests.locust")


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop the run after this many seconds")
    parser.add_argument("--mix-seed", type=int, default=0, help="seed of the request mix (per user: seed + user)")


@events.test_start.add_listener
def _guard(environment, **_kwargs) -> None:
    """Refuse non-loopback targets; schedule the end of the run."""
    try:
        loopback_target(environment.host or "")
    except NotLoopback as exc:
        log.error("%s", exc)
        environment.process_exit_code = 2
        gevent.spawn_later(0, environment.runner.quit)
        return
    gevent.spawn_later(environment.parsed_options.max_seconds, environment.runner.quit)


class Capture(FastHttpUser):
    """A capture device: one /score request per capture, with the workload's mix of frames."""

    wait_time = between(0.5, 2.0)
    _users = 0

    def on_start(self) -> None:
        Capture._users += 1
        self.mix = Mix(seed=self.environment.parsed_options.mix_seed + Capture._users)

    @task
    def score(self) -> None:
        payload = self.mix.next()
        with self.client.post(
            payload.path,
            data=payload.body,
            headers={"Content-Type": payload.content_type},
            name=f"/score [{payload.kind}{' maps' if payload.query else ''}]",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}: {response.text[:200]}")
            elif "images" not in response.json():
                response.failure("answer has no 'images'")
