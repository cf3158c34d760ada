"""loadtests.bench_detector: the rule picks as its docstring says, and the comparison counts what it claims on real
frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtests.bench_detector import (
    HALF,
    MAX_LANDMARK_IOD,
    MIN_RECALL,
    Candidate,
    choose,
    compare,
    decoded,
    fast_path,
)
from loadtests.workload import one_face_jpeg
from service.runtime import Runtime
from service.settings import Settings


def row(path: str, recall: float = 1.0, landmarks: float = 0.01, change: float = 0.5) -> dict[str, Any]:
    return {"path": path, "recall vs full": recall, "landmarks mean (IOD)": landmarks, "score change mean": change}


def timing(**ms: float) -> list[dict[str, Any]]:
    return [{"path": "full", "640x480 ms": 30.0}, *({"path": p, "640x480 ms": v} for p, v in ms.items())]


def test_the_cheapest_qualifying_path_is_chosen() -> None:
    selection = {"rows": [row("a"), row("b"), row(HALF, change=1.0)]}
    choice = choose(selection, timing(a=12.0, b=9.0))
    assert choice["chosen"] == "b"
    assert [v["failed"] for v in choice["verdicts"]] == [[], []]


@pytest.mark.parametrize(
    ("failing", "reason"),
    [
        (row("b", recall=MIN_RECALL - 0.01), "recall"),
        (row("b", landmarks=MAX_LANDMARK_IOD + 0.01), "landmarks"),
        (row("b", change=1.5), "score change"),
    ],
)
def test_a_path_failing_any_condition_is_not_chosen(failing: dict[str, Any], reason: str) -> None:
    selection = {"rows": [row("a"), failing, row(HALF, change=1.0)]}
    choice = choose(selection, timing(a=12.0, b=9.0))
    assert choice["chosen"] == "a"
    (failed,) = [v["failed"] for v in choice["verdicts"] if v["path"] == "b"]
    assert len(failed) == 1 and failed[0].startswith(reason)


def test_full_stays_when_no_path_qualifies() -> None:
    selection = {"rows": [row("a", recall=0.5), row(HALF, change=1.0)]}
    assert choose(selection, timing(a=12.0))["chosen"] == "full"


def test_without_a_choice_the_configured_fast_path_runs_beside_the_full_one() -> None:
    rows = timing(**{"fast-320-192": 20.0, "fast-256-0": 10.0})
    assert fast_path("fast-256-0", Settings(), rows) == "fast-256-0"
    configured = Settings(detector_mode="fast", det_fast_side=320, det_refine_side=192)
    assert fast_path("full", configured, rows) == "fast-320-192"
    assert fast_path("full", Settings(detector_mode="full"), rows) == "fast-256-0"  # the cheapest


def test_a_candidate_is_parsed_into_the_settings_and_environment_that_make_it() -> None:
    fast = Candidate.parse("256:0")
    assert fast.label == "fast-256-0"
    assert fast.env() == {"FIQA_DETECTOR_MODE": "fast", "FIQA_DET_FAST_SIDE": "256", "FIQA_DET_REFINE_SIDE": "0"}
    assert Candidate.parse("full").settings == {"detector_mode": "full"}


@pytest.fixture(scope="module")
def runtimes() -> Iterator[dict[str, Runtime]]:
    base = Settings(warmup=False)
    made = {c.label: Runtime(base.model_copy(update=c.settings)) for c in map(Candidate.parse, ["full", "320:192"])}
    yield made
    for runtime in made.values():
        runtime.shutdown()


def test_compare_counts_faces_landmarks_and_scores_on_real_frames(runtimes: dict[str, Runtime], samples: Path) -> None:
    frames = [
        ("obama", decoded(one_face_jpeg((640, 480)))),
        ("cat", decoded((samples / "no_face_cat.png").read_bytes())),
    ]
    model = Settings().default_models[0]
    compared = compare(iter(frames), runtimes, model)
    assert (compared.images, compared.reference) == (2, 1)
    for label in ("fast-320-192", HALF):
        row = compared.row(label)
        assert row["recall vs full"] == 1.0 and row["faces only this path found"] == 0
        assert 0 < row["landmarks mean (IOD)"] < 0.15
        assert len(compared.values["score_change", label]) == 1  # the one face both paths found
        assert row["score change mean"] == abs(row["score shift mean"])
    assert len(compared.values["detect_ms", "full"]) == 2
    assert compared.row("fast-320-192")["answered as full"] == 0.5  # the cat: no face, the full pass answered
