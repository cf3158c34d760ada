"""POST /select on bursts made from the sample photos: the good frame among degraded copies, two people tracked
apart, no face anywhere, a broken frame among good ones, too many frames; and the ranking rules of service.select
on hand-made faces (quality ties decided by the component measures, then by size)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter
from prometheus_client import REGISTRY

from service.align import AlignedFace
from service.detect import Face
from service.measures import MeasureResult
from service.results import FaceQuality, ScoredFace, ScoredImage
from service.select import Candidate, choose


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _blurred(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(8))


def _darkened(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(0.12)


def _downscaled(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 6, image.height // 6), Image.Resampling.BILINEAR)


def _side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """Two photos as one frame (padded to the taller one's height), made with numpy."""
    height = max(left.height, right.height)
    columns = [np.pad(np.asarray(img), ((0, height - img.height), (0, 0), (0, 0))) for img in (left, right)]
    return Image.fromarray(np.concatenate(columns, axis=1))


def _select(client, frames: list[bytes], **options) -> dict:
    files = [("images", (f"frame-{i}.jpg", data, "image/jpeg")) for i, data in enumerate(frames)]
    response = client.post("/select", files=files, data={"options": json.dumps(options)} if options else None)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def obama(samples: Path) -> Image.Image:
    return Image.open(samples / "obama.jpg").convert("RGB")


def test_the_good_frame_of_a_degraded_burst_is_chosen(client, obama: Image.Image) -> None:
    burst = [_blurred(obama), _darkened(obama), obama, _downscaled(obama)]
    answer = _select(client, [_jpeg(frame) for frame in burst], measures="all")
    frames = answer["frames"]
    assert [frame["status"] for frame in frames] == ["ok"] * 4
    assert answer["chosen"]["frame"] == 2 and answer["chosen"]["id"] == "frame-2.jpg"
    assert answer["chosen"]["face"]["decision"] == "accept" and answer["chosen"]["face"]["measures"]
    assert answer["chosen"]["face"]["quality"]["score"] == frames[2]["score"] == max(f["score"] for f in frames)
    why = answer["chosen"]["why"]
    assert why["decided_by"] in {"quality", "only_candidate"} and why["message"]
    assert why["candidates"] == sum(frame["decision"] == "accept" for frame in frames)
    assert frames[0]["decision"] == "reject" and "quality_below_threshold" in frames[0]["reasons"]
    assert answer["tracks"] == [] and answer["reasons"] == []
    assert {"decode", "detect", "quality"} <= set(answer["timings_ms"]) and answer["models"]


def test_two_people_are_tracked_apart(client, obama: Image.Image, samples: Path) -> None:
    """Frame 0: the left person blurred; frame 1: the right one blurred. Each track keeps the frame where its own
    face is sharp."""
    biden = Image.open(samples / "biden.jpg").convert("RGB")
    biden = biden.resize((obama.height * biden.width // biden.height, obama.height))
    burst = [_side_by_side(_blurred(obama), biden), _side_by_side(obama, _blurred(biden))]
    answer = _select(client, [_jpeg(frame) for frame in burst], track=True)
    assert len(answer["tracks"]) == 2
    by_side = {track["chosen"]["face"]["box"]["x1"] < obama.width: track for track in answer["tracks"]}
    left, right = by_side[True], by_side[False]
    assert left["frames"] == right["frames"] == [0, 1]
    assert left["chosen"]["frame"] == 1 and right["chosen"]["frame"] == 0
    assert answer["chosen"]["frame"] in {0, 1}


def test_no_face_in_any_frame(client, samples: Path) -> None:
    frames = [(samples / name).read_bytes() for name in ("no_face_cat.png", "no_face_coffee.png")]
    files = [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(frames)]
    response = client.post("/select", files=files, data={"options": json.dumps({"track": True})})
    answer = response.json()
    assert response.status_code == 200 and answer["chosen"] is None and answer["reasons"] == ["no_face"]
    assert answer["tracks"] == []
    assert [(f["decision"], f["reasons"], f["score"]) for f in answer["frames"]] == [("reject", ["no_face"], None)] * 2


def test_a_broken_frame_gets_its_error_and_the_others_are_judged(client, obama: Image.Image) -> None:
    answer = _select(client, [_jpeg(_blurred(obama)), b"\xff\xd8 not a jpeg", _jpeg(obama)])
    broken = answer["frames"][1]
    assert broken["status"] == "error" and broken["error"]["code"] and broken["decision"] is None
    assert answer["chosen"]["frame"] == 2


def test_when_no_frame_passes_the_best_candidates_reasons_are_given(client, obama: Image.Image) -> None:
    answer = _select(client, [_jpeg(_blurred(obama)), _jpeg(obama)], threshold=100)
    assert answer["chosen"] is None and answer["reasons"] == ["quality_below_threshold"]
    assert all(frame["decision"] == "reject" for frame in answer["frames"])


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_raw_frame_and_the_json_form_counted_as_score_requests_are(client, obama: Image.Image) -> None:
    frame = _jpeg(obama)
    requests = _count("fiqa_http_requests_total", route="/select", method="POST", status="200")
    images = _count("fiqa_images_total", status="ok")
    raw = client.post("/select?track=true", content=frame, headers={"content-type": "image/jpeg"})
    assert raw.status_code == 200 and raw.json()["chosen"]["frame"] == 0 and len(raw.json()["tracks"]) == 1
    assert _count("fiqa_http_requests_total", route="/select", method="POST", status="200") == requests + 1
    assert _count("fiqa_images_total", status="ok") == images + 1
    assert _count("fiqa_stage_duration_seconds_count", stage="detect") > 0
    body = {"images": [{"id": "a", "data": base64.b64encode(frame).decode()}], "options": {"track": False}}
    answer = client.post("/select", json=body).json()
    assert answer["chosen"]["id"] == "a" and answer["chosen"]["why"]["decided_by"] == "only_candidate"


def test_more_frames_than_allowed_is_a_413(make_client, obama: Image.Image) -> None:
    frame = _jpeg(_downscaled(obama))
    files = [("images", (f"{i}.jpg", frame, "image/jpeg")) for i in range(3)]
    with make_client(max_select_frames=2) as client:
        multipart = client.post("/select", files=files)
        body = {"images": [{"data": "AAAA"}] * 3}
        as_json = client.post("/select", json=body)
        under = client.post("/select", files=files[:2])
    for response in (multipart, as_json):
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_frames"
        assert " 2" in response.json()["error"]["message"]
    assert under.status_code == 200


def _candidate(frame: int, score: float, eyes: float, measures: dict[str, float] | None = None) -> Candidate:
    landmarks = np.array([[0, 0], [eyes, 0], [eyes / 2, 10], [0, 20], [eyes, 20]], dtype=np.float32)
    face = Face(box=np.array([0, 0, 100, 100], dtype=np.float32), landmarks=landmarks, score=0.9)
    aligned = AlignedFace(crop=np.zeros((112, 112, 3), np.uint8), transform=np.eye(2, 3), out_of_frame=0.0)
    quality = FaceQuality(model="m", score=score, scores={"m": score})
    components = {name: MeasureResult(raw=value, score=value) for name, value in (measures or {}).items()}
    scored = ScoredFace(index=0, face=face, aligned=aligned, quality=quality, reasons=[], measures=components)
    image = ScoredImage(index=frame, id=str(frame), width=200, height=200, detected=1, faces=[scored])
    return Candidate(image, scored)


def test_quality_ties_go_to_the_measures_then_to_the_larger_face() -> None:
    by_quality = choose([_candidate(0, 70.0, 40), _candidate(1, 80.0, 30)])
    assert by_quality.chosen.frame.index == 1 and by_quality.why.decided_by == "quality" and by_quality.why.margin == 10
    by_size = choose([_candidate(0, 80.0, 40), _candidate(1, 80.4, 30)])
    assert by_size.chosen.frame.index == 0 and by_size.why.decided_by == "size"
    measured = [_candidate(0, 80.0, 40, {"sharpness": 50.0}), _candidate(1, 80.4, 30, {"sharpness": 90.0})]
    by_measures = choose(measured)
    assert by_measures.chosen.frame.index == 1 and by_measures.why.decided_by == "measures"
    assert by_measures.why.runner_up.frame.index == 0 and by_measures.why.margin == 40
