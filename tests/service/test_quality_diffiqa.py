"""service.quality.diffiqa: the perturbation layout, determinism, the cosine statistic, and that it ranks
degraded faces below the same faces as captured (real fr_feature network, LFW faces)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from service.align import align
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.decode import decode_image
from service.detect import DETECTOR, DetectorTensors, detect
from service.quality import build_methods
from service.quality.diffiqa import ALPHA_BAR, DifFIQAPerturbation
from service.registry import Registry
from service.settings import Settings
from service.timing import Timings

SETTINGS = Settings(ort_intra_op_threads=2)
REGISTRY = Registry(SETTINGS.models_dir)


def method(repeats: int = 4, timestep: int = 10, seed: int = 0) -> DifFIQAPerturbation:
    return DifFIQAPerturbation(REGISTRY["diffiqa"], REGISTRY, repeats=repeats, timestep=timestep, seed=seed)


def random_crops(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(30, 226, (count, 112, 112, 3), dtype=np.uint8)


# --- without the network ---------------------------------------------------------------------------------


def test_build_methods_reads_the_card() -> None:
    built = build_methods(REGISTRY, [])["diffiqa"]
    assert isinstance(built, DifFIQAPerturbation)
    parameters = REGISTRY["diffiqa"].parameters
    assert built.name == "diffiqa" and built.repeats == parameters["repeats"]
    assert built.timestep == parameters["timestep"]
    assert built.recognition.name == "fr_feature"


@pytest.mark.parametrize("repeats", [0, 1, 4])
def test_copies_per_face(repeats: int) -> None:
    scorer = method(repeats=repeats)
    assert scorer.copies == 2 + 2 * repeats
    assert scorer.perturb(random_crops(3)).shape == (3 * scorer.copies, 112, 112, 3)


@pytest.mark.parametrize("timestep", [0, 1001])
def test_timestep_out_of_range_is_refused(timestep: int) -> None:
    with pytest.raises(ValueError, match="timestep"):
        method(timestep=timestep)


def test_perturb_row_layout() -> None:
    scorer = method()
    crops = random_crops(2)
    rows = scorer.perturb(crops).reshape(2, scorer.copies, 112, 112, 3)
    for face in range(2):
        np.testing.assert_allclose(rows[face, 0], crops[face], atol=1e-9)  # the crop itself
        np.testing.assert_allclose(rows[face, 1], crops[face][:, ::-1], atol=1e-9)  # mirrored left-right
        for k in range(2, scorer.copies):
            assert not np.allclose(rows[face, k], rows[face, 0])  # noisy copies differ from the original...
        for k in range(3, 2 + scorer.repeats):
            assert not np.array_equal(rows[face, k], rows[face, 2])  # ...and from each other


def test_noise_has_the_forward_diffusion_strength() -> None:
    """x_t = sqrt(abar) x + sqrt(1 - abar) eps on [-1, 1]: the pixel deviation follows the schedule."""
    crops = np.full((1, 112, 112, 3), 128, dtype=np.uint8)  # mid-grey: no clipping
    for timestep in (10, 100):
        scorer = method(timestep=timestep)
        rows = scorer.perturb(crops)
        x0 = 128 / 127.5 - 1
        abar = ALPHA_BAR[timestep - 1]
        noise = (rows[2 : 2 + scorer.repeats] / 127.5 - 1 - np.sqrt(abar) * x0) / np.sqrt(1 - abar)
        assert abs(noise.mean()) < 0.02
        assert noise.std() == pytest.approx(1.0, abs=0.02)


def test_perturb_is_deterministic_and_batch_independent() -> None:
    scorer = method()
    a, b, c = random_crops(3, seed=5)
    alone = scorer.perturb(a[None])
    in_batch = scorer.perturb(np.stack([b, a, c, a])).reshape(4, scorer.copies, 112, 112, 3)
    np.testing.assert_array_equal(in_batch[1], alone)
    np.testing.assert_array_equal(in_batch[3], alone)  # the same crop twice gets the same noise
    assert not np.array_equal(in_batch[0, 2:], in_batch[2, 2:])
    np.testing.assert_array_equal(method().perturb(a[None]), alone)  # a fresh object, same result
    assert not np.array_equal(method(seed=1).perturb(a[None])[2:], alone[2:])  # the seed setting matters


def test_prepare_gives_the_cards_bgr_normalised_input() -> None:
    scorer = method(repeats=1)
    crops = random_crops(2)
    inputs = scorer.prepare(crops)
    assert list(inputs) == ["fr_feature"] and list(inputs["fr_feature"]) == ["input"]
    tensor = inputs["fr_feature"]["input"]
    assert tensor.shape == (2 * scorer.copies, 3, 112, 112) and tensor.dtype == np.float32
    assert tensor.flags["C_CONTIGUOUS"]
    # Row 0 is crop 0; channel 0 is blue: (B - 127) / 128.
    np.testing.assert_allclose(tensor[0, 0], (crops[0, :, :, 2].astype(np.float32) - 127) / 128, atol=1e-5)
    np.testing.assert_allclose(tensor[0, 2], (crops[0, :, :, 0].astype(np.float32) - 127) / 128, atol=1e-5)
    np.testing.assert_allclose(
        tensor[scorer.copies], (crops[1, :, :, ::-1].transpose(2, 0, 1) - 127.0) / 128, atol=1e-5
    )


def test_postprocess_is_the_mean_cosine_to_the_original() -> None:
    scorer = method(repeats=1)  # 4 copies per face
    e1, e2 = np.eye(512, dtype=np.float32)[:2]
    face_a = np.stack([e1, e1 * 3, e1 * 0.5, e1])  # identical directions, any norms -> 1
    face_b = np.stack([e1, e1, e2, -e1])  # cosines 1, 0, -1 -> 0
    face_c = np.stack([e1, e1, e2, e2])  # cosines 1, 0, 0 -> 1/3
    outputs = {"fr_feature": {"output": np.concatenate([face_a, face_b, face_c])}}
    np.testing.assert_allclose(scorer.postprocess(outputs, 3), [1.0, 0.0, 1 / 3], atol=1e-9)


def test_to_score_follows_the_card() -> None:
    scorer = method()
    low, high = scorer.mapping.raw_low, scorer.mapping.raw_high
    raw = np.array([1.0, high, (low + high) / 2, low, 0.5])
    np.testing.assert_allclose(scorer.to_score(raw), [100.0, 100.0, 50.0, 0.0, 0.0])


# --- with the real networks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Iterator[OnnxRuntimeBackend]:
    onnx = OnnxRuntimeBackend(REGISTRY, SETTINGS)
    onnx.load_sync([DETECTOR, "fr_feature"])
    yield onnx
    asyncio.run(onnx.close())


def raw_scores(backend: OnnxRuntimeBackend, scorer: DifFIQAPerturbation, crops: np.ndarray) -> np.ndarray:
    inputs = scorer.prepare(crops)
    outputs = {name: backend.infer_sync(name, tensors) for name, tensors in inputs.items()}
    return scorer.postprocess(outputs, len(crops))


def aligned_crop(backend: OnnxRuntimeBackend, path: Path) -> np.ndarray:
    rgb = decode_image(path.read_bytes(), max_bytes=10**8, max_pixels=10**8, min_side=16).rgb
    tensors = DetectorTensors.from_card(REGISTRY[DETECTOR])
    faces = asyncio.run(detect(backend, tensors, rgb, Timings(), max_side=640, threshold=0.5, iou_threshold=0.3))
    assert faces, path
    return align(rgb, max(faces, key=lambda face: face.area).landmarks).crop


@pytest.fixture(scope="module")
def lfw_crops(backend: OnnxRuntimeBackend, data_dir: Path) -> np.ndarray:
    """Ten different people's first LFW photo, detected and aligned (reading LFW for tests, not training)."""
    people = sorted(path for path in (data_dir / "lfw" / "images").iterdir() if path.is_dir())[::400][:10]
    return np.stack([aligned_crop(backend, person / f"{person.name}_0001.jpg") for person in people])


def test_real_scores_are_batch_independent(backend: OnnxRuntimeBackend, lfw_crops: np.ndarray) -> None:
    scorer = method(repeats=2)
    alone = raw_scores(backend, scorer, lfw_crops[:1])
    mixed = raw_scores(backend, scorer, lfw_crops[[3, 0, 5]])
    assert 0.0 < alone[0] <= 1.0
    assert mixed[1] == pytest.approx(alone[0], abs=1e-5)
    assert raw_scores(backend, scorer, lfw_crops[:1])[0] == pytest.approx(alone[0], abs=1e-6)


def test_captured_face_scores_high(backend: OnnxRuntimeBackend, samples: Path) -> None:
    crop = np.asarray(cv2.cvtColor(cv2.imread(str(samples / "Tom_Hanks_54745.png")), cv2.COLOR_BGR2RGB))
    assert crop.shape == (112, 112, 3)
    raw = raw_scores(backend, method(), crop[None])
    assert raw[0] > 0.9
    assert method().to_score(raw)[0] > 50.0  # above the card's default threshold


def test_degraded_faces_score_lower(backend: OnnxRuntimeBackend, lfw_crops: np.ndarray) -> None:
    scorer = method(repeats=2)  # n=2 (6 passes per face) keeps the test short; the card's n=4 only adds averaging
    blurred = np.stack([cv2.GaussianBlur(crop, (0, 0), 3) for crop in lfw_crops])
    small = [cv2.resize(crop, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA) for crop in lfw_crops]
    downscaled = np.stack([cv2.resize(crop, (112, 112), interpolation=cv2.INTER_LINEAR) for crop in small])
    raw = raw_scores(backend, scorer, np.concatenate([lfw_crops, blurred, downscaled])).reshape(3, -1)
    original, blur, down = raw
    for degraded in (blur, down):
        assert degraded.mean() < original.mean() - 0.03
        assert (degraded < original).sum() >= 8  # nearly every face, not only on average
    assert scorer.to_score(original).mean() > scorer.to_score(blur).mean() + 20
