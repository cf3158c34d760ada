"""service.quality.ifqa and return_maps: preprocessing, Eq. 8 raw score, map rendering with its transform,
the per-request map limit, and the /score contract with the committed IFQA model (real faces)."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
from insightface.utils.face_align import arcface_dst

from service.quality import build_methods
from service.quality.base import resize_crops
from service.quality.ifqa import IFQAMap
from service.quality.maps import grid_transform, render
from service.registry import CardError, Registry
from service.runtime import Runtime
from service.settings import Settings

SETTINGS = Settings()
REGISTRY = Registry(SETTINGS.models_dir)


def _png(data: str, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), flags)


def test_card_builds_the_method_and_prepares_rgb_at_the_network_size():
    method = build_methods(REGISTRY, [])["ifqa"]
    assert isinstance(method, IFQAMap) and method.preprocess.crop_size == 64
    crops = np.zeros((2, 112, 112, 3), dtype=np.uint8)
    crops[..., 0] = 255  # pure red
    inputs = method.prepare(crops)
    (tensor,) = inputs["ifqa"].values()
    assert tensor.shape == (2, 3, 64, 64) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[:, 0], 1.0)  # RGB order, (x - 127.5) / 127.5
    np.testing.assert_allclose(tensor[:, 1:], -1.0)


def test_resize_is_area_interpolation_and_a_no_op_at_size():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    small = resize_crops(crops, 64)
    assert small.shape == (3, 64, 64, 3)
    np.testing.assert_array_equal(small[1], cv2.resize(crops[1], (64, 64), interpolation=cv2.INTER_AREA))
    assert resize_crops(small, 64) is small


def test_raw_score_is_the_map_mean():
    method = IFQAMap(REGISTRY["ifqa"], REGISTRY)
    values = np.random.default_rng(1).random((3, 1, 64, 64)).astype(np.float32)
    outputs = {"ifqa": {"map": values}}
    maps = method.maps(outputs, 3)
    assert maps.shape == (3, 64, 64)
    np.testing.assert_allclose(method.postprocess(outputs, 3), values.mean(axis=(1, 2, 3)), rtol=1e-6)
    scores = method.to_score(np.array([-1.0, 0.2, 5.0]))
    assert scores[0] == 0 and scores[2] == 100 and 0 < scores[1] < 100


def test_rendered_maps_decode_to_what_was_sent():
    rng = np.random.default_rng(2)
    values = rng.random((64, 64)).astype(np.float32)
    crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    transform = np.array([[0.5, 0.1, -10.0], [-0.1, 0.5, 4.0]])

    png = render(values, crop, transform, "png")
    grey = _png(png.data)
    assert grey.shape == (112, 112) and grey.dtype == np.uint8 and png.values is None
    expected = np.rint(cv2.resize(values, (112, 112), interpolation=cv2.INTER_LINEAR) * 255)
    assert np.abs(grey.astype(float) - expected).max() <= 1
    np.testing.assert_allclose(png.transform, transform, atol=1e-6)

    overlay = _png(render(values, crop, transform, "overlay").data, cv2.IMREAD_COLOR)
    assert overlay.shape == (112, 112, 3)
    bright, dark = values > 0.9, values < 0.1
    up = cv2.resize(values, (112, 112), interpolation=cv2.INTER_LINEAR)
    # brighter map -> brighter heat colour, whatever the crop below (INFERNO is monotone in luminance)
    heat = cv2.cvtColor(overlay, cv2.COLOR_BGR2GRAY).astype(float) - 0.5 * cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    assert heat[up > 0.8].mean() > heat[up < 0.2].mean() + 40
    assert bright.any() and dark.any()

    array = render(values, crop, transform, "array")
    assert (array.width, array.height) == (64, 64) and array.data is None
    np.testing.assert_allclose(np.array(array.values), values, atol=5e-4)


def test_array_transform_lands_frame_points_on_the_map_grid():
    transform = np.array([[0.8, 0.2, 3.0], [-0.2, 0.8, 7.0]])
    point = np.array([40.0, 25.0, 1.0])
    crop_xy = transform @ point
    map_xy = grid_transform(transform, 112, 64) @ point
    np.testing.assert_allclose(map_xy, (crop_xy + 0.5) * 64 / 112 - 0.5)


# --- through the HTTP API, with the committed model ----------------------------------------------------


@pytest.fixture(scope="module")
def ifqa_client(make_client):
    with make_client(max_map_faces=3) as client:
        yield client


def _score(client, path, fmt, models=("diffiqa_r64", "ifqa")):
    data = base64.b64encode(path.read_bytes()).decode()
    payload = {"images": [{"data": data}], "options": {"models": list(models), "return_maps": fmt}}
    response = client.post("/score", json=payload)
    assert response.status_code == 200, response.text
    return response


def test_png_map_comes_with_the_frame_to_crop_transform(ifqa_client, samples):
    body = _score(ifqa_client, samples / "obama.jpg", "png").json()
    assert not any("return_maps" in warning for warning in body["warnings"])
    face = body["images"][0]["faces"][0]
    grey_map = face["maps"]["ifqa"]
    assert grey_map["format"] == "png" and grey_map["width"] == grey_map["height"] == 112
    assert _png(grey_map["data"]).shape == (112, 112)
    # the transform takes the detected landmarks onto the ArcFace template of the 112 crop
    transform = np.array(grey_map["transform"])
    landmarks = np.array(face["landmarks"])
    on_crop = landmarks @ transform[:, :2].T + transform[:, 2]
    assert np.abs(on_crop - arcface_dst).max() < 3.0
    assert 0 < face["quality"]["raw"]["ifqa"] < 1


def test_array_map_mean_is_the_raw_score(ifqa_client, samples):
    face = _score(ifqa_client, samples / "obama2.jpg", "array").json()["images"][0]["faces"][0]
    values = np.array(face["maps"]["ifqa"]["values"])
    assert values.shape == (64, 64) and values.min() >= 0 and values.max() <= 1
    assert len(json.dumps(face["maps"])) < 40_000  # 4,096 numbers with 3 decimals
    assert abs(values.mean() - face["quality"]["raw"]["ifqa"]) < 5e-4  # values rounded to 3 decimals


def test_map_count_is_capped_and_the_response_stays_small(ifqa_client, samples):
    response = _score(ifqa_client, samples / "t1.jpg", "overlay")
    body = response.json()
    faces = body["images"][0]["faces"]
    scored = [face for face in faces if face["quality"]["score"] >= 0]
    assert len(scored) > 3
    with_maps = [face for face in faces if face["maps"]]
    assert len(with_maps) == 3  # max_map_faces=3
    assert any("max_map_faces setting" in warning for warning in body["warnings"])
    for face in with_maps:
        assert _png(face["maps"]["ifqa"]["data"], cv2.IMREAD_COLOR).shape == (112, 112, 3)
        assert len(json.dumps(face["maps"])) < 60_000  # one overlay map, about 50 KB at most
    assert len(response.content) < 3 * 60_000 + 20_000


def test_maps_only_from_map_models_and_only_when_asked(ifqa_client, samples):
    body = _score(ifqa_client, samples / "obama.jpg", "png", models=("diffiqa",)).json()
    assert "return_maps: none of the selected models produces quality maps; none returned" in body["warnings"]
    assert body["images"][0]["faces"][0]["maps"] == {}
    body = _score(ifqa_client, samples / "obama.jpg", "none").json()
    assert body["images"][0]["faces"][0]["maps"] == {} and not body["warnings"]
    both = _score(ifqa_client, samples / "obama.jpg", "png", models=("diffiqa", "ifqa")).json()
    face = both["images"][0]["faces"][0]
    assert set(face["maps"]) == {"ifqa"} and set(face["quality"]["raw"]) == {"diffiqa", "ifqa"}


def test_maps_only_model_gives_no_score_and_cannot_be_first(ifqa_client, samples):
    """IFQA's image score does not rank faces (its card's evaluation lines): it serves maps and its raw value, never
    quality.score or a 0..100 score, and asking for it first is refused."""
    face = _score(ifqa_client, samples / "obama.jpg", "png").json()["images"][0]["faces"][0]
    assert face["quality"]["model"] == "diffiqa_r64" and set(face["quality"]["scores"]) == {"diffiqa_r64"}
    assert set(face["quality"]["raw"]) == {"diffiqa_r64", "ifqa"} and set(face["maps"]) == {"ifqa"}
    data = base64.b64encode((samples / "obama.jpg").read_bytes()).decode()
    response = ifqa_client.post("/score", json={"images": [{"data": data}], "options": {"models": ["ifqa"]}})
    assert response.status_code == 422 and "maps only" in response.json()["error"]["message"]
    listed = {card["name"]: card for card in ifqa_client.get("/v1/models").json()["models"]}
    assert listed["ifqa"]["maps_only"] and "decision_threshold" not in listed["ifqa"]


def test_a_maps_only_first_default_is_refused_at_start():
    with pytest.raises(CardError, match="maps-only"):
        Runtime.from_env(default_models=["ifqa", "diffiqa_r64"])
