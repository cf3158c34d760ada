"""BackgroundUniformity (service.measures.background) on real photos: a person cut out of a real LFW photo by the
selfie segmentation reads plain over a grey wall and busier with each step of texture put behind them; through the
gateway, with the check asked for, the textured capture is rejected under the enrolment profile with
``background_not_uniform`` and its hint while the plain one is not; without the network, or with the frame cut tight
around the head, the measure says why."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fiqa.evaluate.measures import swap_background, with_person
from service.align import align
from service.decision import HINTS
from service.measures import MEASURES, FaceView, MeasureResult
from service.runtime import Runtime

NAME = "BackgroundUniformity"
PEOPLE = ("Aaron_Sorkin", "Abdel_Nasser_Assidi", "Abbas_Kiarostami")


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    runtime = Runtime.from_env(warmup=False)
    yield runtime
    runtime.shutdown()


def _lfw(data_dir: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(data_dir / "lfw" / "images" / name / f"{name}_0001.jpg").convert("RGB"))


def _background(runtime: Runtime, rgb: np.ndarray) -> MeasureResult:
    face = max(runtime.detect(rgb), key=lambda found: found.area)
    (networks,) = runtime.measure_networks([NAME], rgb, [face])
    view = FaceView.of(face, align(rgb, face.landmarks), (rgb.shape[1], rgb.shape[0]), [face], networks)
    return MEASURES[NAME].assess(view)


def test_more_texture_behind_the_person_reads_less_uniform(runtime: Runtime, data_dir: Path) -> None:
    for person in PEOPLE:
        cut_out = with_person(runtime, _lfw(data_dir, person))
        results = [_background(runtime, swap_background(cut_out, amplitude)) for amplitude in (0, 8, 32)]
        raws, scores = [r.raw for r in results], [r.score for r in results]
        assert raws == sorted(raws) and scores == sorted(scores, reverse=True), (person, results)
        assert scores[0] >= 80 and scores[-1] <= 20, (person, results)


def _jpeg(rgb: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=95)
    return base64.b64encode(out.getvalue()).decode()


def test_enrolment_rejects_a_busy_background_with_the_hint(client, runtime: Runtime, data_dir: Path) -> None:
    cut_out = with_person(runtime, _lfw(data_dir, PEOPLE[1]))
    # not checked by enrolment's defaults (its network's cost): the request asks for it
    options = {"measures": [NAME], "profile": "enrolment", "threshold": 0, "measure_thresholds": {NAME: 50}}

    def face(rgb: np.ndarray) -> dict:
        response = client.post("/score", json={"images": [{"data": _jpeg(rgb)}], "options": options})
        assert response.status_code == 200, response.text
        return response.json()["images"][0]["faces"][0]

    plain, busy = face(swap_background(cut_out, 0)), face(swap_background(cut_out, 32))
    assert "background_not_uniform" not in plain["reasons"] and plain["measures"][NAME]["score"] >= 80
    assert "background_not_uniform" in busy["reasons"] and HINTS["background_not_uniform"] in busy["hints"]


def test_without_the_network_or_the_background_it_is_not_assessable(runtime: Runtime, data_dir: Path) -> None:
    rgb = _lfw(data_dir, PEOPLE[0])
    face = max(runtime.detect(rgb), key=lambda found: found.area)
    bare = MEASURES[NAME].assess(FaceView.of(face, align(rgb, face.landmarks), (250, 250), [face]))
    assert not bare.assessed and bare.raw == -1 and "not loaded" in (bare.reason or "")
    # the frame cut to the face box: nearly all the crop's background would be padding
    x1, y1, x2, y2 = np.round(face.box).astype(int)
    tight = np.ascontiguousarray(rgb[y1:y2, x1:x2])
    result = _background(runtime, tight)
    assert not result.assessed and result.raw == -1 and "too little background" in (result.reason or "")
