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
    coarse_recall,
    compare,
    decode_choice,
    decode_effect,
    decoded,
    fast_path,
    reduced_label,
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
    with_margin = timing(**{"fast-192-160-m1.5": 15.0, "fast-256-0": 10.0})
    narrow = Settings(detector_mode="fast", det_fast_side=192, det_refine_side=160, det_refine_margin=1.5)
    assert fast_path("full", narrow, with_margin) == "fast-192-160-m1.5"


def test_a_candidate_is_parsed_into_the_settings_and_environment_that_make_it() -> None:
    fast = Candidate.parse("256:0")
    assert fast.label == "fast-256-0"
    assert fast.env() == {"FIQA_DETECTOR_MODE": "fast", "FIQA_DET_FAST_SIDE": "256", "FIQA_DET_REFINE_SIDE": "0"}
    assert Candidate.parse("full").settings == {"detector_mode": "full"}
    margin = Candidate.parse("192:160:1.5")
    assert margin.label == "fast-192-160-m1.5"
    assert margin.env()["FIQA_DET_REFINE_MARGIN"] == "1.5"
    assert Settings(**margin.settings).det_refine_margin == 1.5


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


def decode_row(name: str, detail: float, change: float) -> dict[str, Any]:
    return {"set": name, "decode": reduced_label(detail), "score change mean": change}


def test_the_smallest_detail_factor_within_the_tolerance_on_every_set_is_chosen() -> None:
    rows = [decode_row("a", 1.5, 0.9), decode_row("b", 1.5, 2.1), decode_row("a", 2.0, 0.3), decode_row("b", 2.0, 0.4)]
    assert decode_choice(rows, [2.0, 1.5], 3.0)["chosen"] == {"frame_decode": "reduced", "frame_min_detail": 1.5}
    choice = decode_choice(rows, [2.0, 1.5], 2.0)
    assert choice["chosen"] == {"frame_decode": "reduced", "frame_min_detail": 2.0}
    assert choice["verdicts"][0]["failed"] == ["b: score change 2.1 > 2.0"]
    assert decode_choice(rows, [1.5, 2.0], 0.2)["chosen"] == {"frame_decode": "full"}


def test_decode_effect_compares_the_full_decode_with_each_reduced_one() -> None:
    runtime = Runtime(Settings(warmup=False))
    jpegs = [("big", one_face_jpeg((4000, 3000))), ("vga", one_face_jpeg((640, 480)))]
    rows = decode_effect(iter(jpegs), runtime, Settings().default_models[0], [1.5, 100.0])
    runtime.shutdown()
    coarse, finest = rows
    assert [row["decode"] for row in rows] == ["reduced x1.5", "reduced x100"]
    assert all(row["images"] == 2 and row["decoded reduced"] == 1 and row["faces"] == 2 for row in rows)
    # x1.5: the big frame's face is cut from its 1/4 decode; the 640x480 one is never reduced
    assert coarse["decoded again finer"] == 0 and coarse["score change mean"] > 0.0
    # x100: no face holds that much at 1/4, so the frame is decoded again at full resolution; the detector read the
    # same 1/4 pixels either way, so the crop and the score are the full decode's own
    assert finest["decoded again finer"] == 1 and finest["score change mean"] == 0.0
    assert finest["decisions changed"] == 0.0


def test_coarse_recall_counts_each_full_path_face_in_its_size_band(samples: Path) -> None:
    base = Settings(warmup=False, detector_mode="full")
    sides = {side: Runtime(base.model_copy(update={"det_max_side": side})) for side in (640, 192)}
    frames = [
        ("obama", decoded(one_face_jpeg((640, 480)))),
        ("cat", decoded((samples / "no_face_cat.png").read_bytes())),
    ]
    try:
        (face,) = sides[640].detect(frames[0][1])
        recall = coarse_recall(iter(frames), sides)
    finally:
        for runtime in sides.values():
            runtime.shutdown()
    pixels = float(max(face.box[2] - face.box[0], face.box[3] - face.box[1])) * 192 / 640
    counted = [row for row in recall["rows"] if row["full path faces"]]
    assert len(counted) == 1 and counted[0]["found by the coarse pass"] == 1 and counted[0]["recall"] == 1.0
    low, _, high = counted[0]["face side in the coarse letterbox (px)"].partition("–")
    assert float(low) <= pixels < float(high)
    assert recall["sides"] == [192] and recall["holds"] is False  # the bands above this face hold no faces at all
