"""The networks the component measures read (face mesh, iris, expression, person segmentation): each is served by
name through the onnxruntime backend (its file's checksum and the card contract checked at load) and, given a real
face prepared as its card says (``network_crops`` + ``network_input``), answers with outputs that make sense:
points on the face the detector found, probabilities that sum to one, a mask that covers the person. Triton serves
them from the committed ``model_repository/`` configs, which declare the card's tensors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict
from tritonclient.grpc.model_config_pb2 import DataType

from export.repository import parse_config
from service.align import network_crops
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.backends.triton.verify import check_served
from service.decode import decode_image
from service.detect import DETECTOR, DetectorTensors, Face, detect
from service.quality.base import network_input
from service.registry import Registry
from service.settings import REPO_ROOT, Settings
from service.timing import Timings

NETWORKS = {"facemesh": "landmarks", "iris": "landmarks", "emotion": "classifier", "selfie": "segmentation"}
PORTRAITS = ("obama.jpg", "biden.jpg", "astronaut.png")
SMILING = ("obama.jpg", "astronaut.png")
NOSE_TIP = 1  # MediaPipe's canonical mesh index
MOUTH_CORNERS = (61, 291)  # image-left, image-right
IRIS_CENTRE = 71  # of the iris network's 76 points
EYE_CORNERS = (0, 8)  # outer, inner, of the iris network's eye contour
MESH_EYE_CORNERS = ((33, 133), (263, 362))  # outer, inner: image-left eye, image-right eye


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Registry, OnnxRuntimeBackend]]:
    settings = Settings(cpu_workers=1, ort_intra_op_threads=1)
    registry = Registry(settings.models_dir)
    backend = OnnxRuntimeBackend(registry, settings)
    backend.load_sync([DETECTOR, *NETWORKS])  # checksum and card contract, as at the gateway's start
    yield registry, backend
    asyncio.run(backend.close())


@pytest.fixture(scope="module")
def portraits(samples: Path, served: tuple[Registry, OnnxRuntimeBackend]) -> list[tuple[np.ndarray, Face]]:
    """Each sample portrait and its one face, found by the gateway's detector."""
    registry, backend = served
    tensors = DetectorTensors.from_card(registry[DETECTOR])
    found = []
    for name in PORTRAITS:
        rgb = decode_image((samples / name).read_bytes(), max_bytes=10**8, max_pixels=10**8, min_side=16).rgb
        faces = asyncio.run(detect(backend, tensors, rgb, Timings(), max_side=640, threshold=0.5, iou_threshold=0.3))
        assert len(faces) == 1, name
        found.append((rgb, faces[0]))
    return found


def run(served: tuple[Registry, OnnxRuntimeBackend], name: str, crops: np.ndarray) -> dict[str, np.ndarray]:
    """One batch through the backend, each output checked against the card's shape."""
    registry, backend = served
    card = registry[name]
    assert card.kind == NETWORKS[name] and card.preprocess is not None and card.sha256
    outputs = backend.infer_sync(name, {card.single_input(): network_input(crops, card.preprocess)})
    for spec in card.outputs:
        assert outputs[spec.name].shape == (len(crops), *spec.shape[1:]), spec.name
        assert np.isfinite(outputs[spec.name]).all()
    return outputs


def to_frame(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Crop pixels (N, 2) -> frame pixels, through the inverse of a 2x3 frame -> crop transform."""
    inverse = np.linalg.inv(np.vstack([transform, [0.0, 0.0, 1.0]]))[:2]
    return points @ inverse[:, :2].T + inverse[:, 2]


def test_face_mesh_lands_on_the_detected_face(
    served: tuple[Registry, OnnxRuntimeBackend], portraits: list[tuple[np.ndarray, Face]]
) -> None:
    card = served[0]["facemesh"]
    for rgb, face in portraits:
        crops, transforms = network_crops(rgb, face.landmarks, card.preprocess)
        out = run(served, "facemesh", crops)
        assert out[card.output("face_flag")][0, 0] > 0.9
        mesh = out[card.output("mesh")].reshape(468, 3)
        assert ((mesh[:, :2] > 0) & (mesh[:, :2] < card.preprocess.crop_size)).all()
        tolerance = 0.2 * face.inter_eye_distance
        for role, eye in (("iris_image_left", 0), ("iris_image_right", 1)):
            centre = to_frame(out[card.output(role)].reshape(5, 2)[:1], transforms[0])[0]
            assert np.linalg.norm(centre - face.landmarks[eye]) < tolerance, role
        nose = to_frame(mesh[NOSE_TIP : NOSE_TIP + 1, :2], transforms[0])[0]
        assert np.linalg.norm(nose - face.landmarks[2]) < tolerance
        mouth = to_frame(mesh[list(MOUTH_CORNERS), :2], transforms[0])
        assert np.linalg.norm(mouth - face.landmarks[3:], axis=1).max() < tolerance


def test_iris_centres_the_eyes_it_is_given_and_names_their_corners(
    served: tuple[Registry, OnnxRuntimeBackend], portraits: list[tuple[np.ndarray, Face]]
) -> None:
    """The iris centre lands on the detector's eye, and the contour's corner points (0 outer, 8 inner) on the face
    mesh's eye corners: which they do only with the image-right eye mirrored (the network reads image-left eyes)."""
    card, mesh_card = served[0]["iris"], served[0]["facemesh"]
    size = card.preprocess.crop_size
    for rgb, face in portraits:
        mesh_crop, mesh_transform = network_crops(rgb, face.landmarks, mesh_card.preprocess)
        mesh = run(served, "facemesh", mesh_crop)[mesh_card.output("mesh")].reshape(468, 3)[:, :2]
        mesh = to_frame(mesh, mesh_transform[0])
        crops, transforms = network_crops(rgb, face.landmarks, card.preprocess)
        crops[1] = crops[1][:, ::-1]
        points = run(served, "iris", crops)[card.outputs[0].name].reshape(2, 76, 3)[..., :2].copy()
        points[1, :, 0] = size - points[1, :, 0]
        for eye in (0, 1):
            contour, centre = points[eye, :IRIS_CENTRE], points[eye, IRIS_CENTRE]
            assert (contour.min(axis=0) < centre).all() and (centre < contour.max(axis=0)).all()
            found = to_frame(points[eye, [IRIS_CENTRE, *EYE_CORNERS]], transforms[eye])
            assert np.linalg.norm(found[0] - face.landmarks[eye]) < 0.15 * face.inter_eye_distance
            corners = mesh[list(MESH_EYE_CORNERS[eye])]
            assert np.linalg.norm(found[1:] - corners, axis=1).max() < 0.2 * face.inter_eye_distance


def test_expression_probabilities_sum_to_one_and_smiles_are_happy(
    served: tuple[Registry, OnnxRuntimeBackend], portraits: list[tuple[np.ndarray, Face]]
) -> None:
    card = served[0]["emotion"]
    crops = np.concatenate([network_crops(rgb, face.landmarks, card.preprocess)[0] for rgb, face in portraits])
    probabilities = run(served, "emotion", crops)[card.outputs[0].name]
    assert probabilities.shape[1] == len(card.parameters["classes"])
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    single = np.concatenate([run(served, "emotion", crop[None])[card.outputs[0].name] for crop in crops])
    np.testing.assert_allclose(single, probabilities, atol=1e-5)
    top = [card.parameters["classes"][k] for k in probabilities.argmax(axis=1)]
    assert [name for name, label in zip(PORTRAITS, top, strict=True) if label == "happy"] == list(SMILING)


def test_person_mask_covers_the_face_and_not_the_whole_frame(
    served: tuple[Registry, OnnxRuntimeBackend], portraits: list[tuple[np.ndarray, Face]]
) -> None:
    card = served[0]["selfie"]
    frames, boxes = [], []
    for rgb, face in portraits:
        crops, transforms = network_crops(rgb, face.landmarks, card.preprocess)
        frames.append(crops[0])
        corners = face.box.reshape(2, 2) @ transforms[0][:, :2].T + transforms[0][:, 2]
        boxes.append(np.round(corners).astype(int).clip(0, card.preprocess.crop_size))
    masks = run(served, "selfie", np.stack(frames))[card.outputs[0].name][..., 0]
    assert ((masks >= 0) & (masks <= 1)).all()
    for mask, ((x1, y1), (x2, y2)) in zip(masks, boxes, strict=True):
        assert mask[y1:y2, x1:x2].mean() > 0.8  # the face is person
        assert (mask < 0.5).mean() > 0.05  # and the frame is not all person


@pytest.mark.parametrize("name", NETWORKS)
def test_triton_config_declares_the_card(served: tuple[Registry, OnnxRuntimeBackend], name: str) -> None:
    """What Triton would report for the committed config (its tensors with the batch axis in front) passes the
    Triton backend's own check of the card, at the gateway's batch size."""
    config = parse_config((REPO_ROOT / "model_repository" / name / "config.pbtxt").read_text())

    def tensors(declared) -> list[dict]:
        return [
            {"name": t.name, "datatype": DataType.Name(t.data_type).removeprefix("TYPE_"), "shape": [-1, *t.dims]}
            for t in declared
        ]

    metadata = {"inputs": tensors(config.input), "outputs": tensors(config.output)}
    as_dict = MessageToDict(config, preserving_proto_field_name=True)
    info = check_served(served[0][name], metadata, as_dict, batch_rows=Settings().max_batch_size)
    assert info.max_batch_size >= Settings().max_batch_size
