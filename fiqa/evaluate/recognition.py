"""Face-recognition models that produce the comparison scores of an evaluation.

- Every model card of kind ``face_recognition`` with an ONNX file (``fr_feature``, and later our own backbone):
  the card's preprocessing (``network_input``) on the aligned crop, through the gateway backend; cosine similarity.
- ``dlib``: dlib's ResNet (128-D, ``face_recognition_models``), an FR model independent of every quality model
  here. With frames available it gets dlib's own 150x150 chip: dlib's 5-point shape predictor placed in the
  CenterFace box, then dlib's chip extraction (padding 0.25), as dlib was trained. With ``--aligned`` crops only,
  the 112x112 ArcFace crop is resized to 150x150 (a framing dlib was not trained on; say so when used).
  Similarity is the negative Euclidean distance, dlib's own metric.
"""

from __future__ import annotations

import logging
import warnings
from typing import Protocol

import cv2
import numpy as np

from fiqa.evaluate.acquire import Acquired, decode
from fiqa.evaluate.cache import Cache, card_part, file_digest, tag_of
from fiqa.evaluate.datasets import Dataset
from service.quality.base import network_input
from service.runtime import Runtime

log = logging.getLogger(__name__)
DLIB = "dlib"


class Recognizer(Protocol):
    name: str

    def tag(self) -> str: ...

    def embed(self, dataset: Dataset, faces: Acquired, indices: np.ndarray) -> np.ndarray:
        """(len(indices), D) embeddings of those samples, NaN rows where no face was acquired."""

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise similarity of two embedding arrays (higher = more alike)."""


class OnnxRecognizer:
    """An ONNX face-recognition network from its model card, run through the gateway backend."""

    def __init__(self, runtime: Runtime, name: str, batch: int = 64):
        self.runtime = runtime
        self.name = name
        self.card = runtime.registry[name]
        self.batch = batch

    def tag(self) -> str:
        parts = ["onnx-fr-v2", card_part(self.card)]
        if self.card.sha256 is None:  # weights not pinned by the card: hash them
            parts.append(file_digest(self.runtime.registry.file_of(self.name)))
        return tag_of(*parts)

    def embed(self, dataset: Dataset, faces: Acquired, indices: np.ndarray) -> np.ndarray:
        assert self.card.preprocess is not None
        out = np.full((indices.size, self.card.outputs[0].shape[-1]), np.nan, dtype=np.float32)
        rows = np.flatnonzero(faces.ok[indices])
        for start in range(0, rows.size, self.batch):
            part = rows[start : start + self.batch]
            tensor = network_input(faces.crops[indices[part]], self.card.preprocess)
            result = self.runtime.infer(self.name, {self.card.inputs[0].name: tensor})
            out[part] = result[self.card.outputs[0].name]
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("nd,nd->n", a, b)


class DlibRecognizer:
    """dlib's ResNet face descriptor (see the module docstring for how its input chip is made)."""

    name = DLIB

    def __init__(self, runtime: Runtime, chip: str = "dlib"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
            import dlib
            import face_recognition_models as files
        self.dlib = dlib
        self.runtime = runtime
        self.chip = chip
        self.net = dlib.face_recognition_model_v1(files.face_recognition_model_location())
        self.shapes = dlib.shape_predictor(files.pose_predictor_five_point_model_location())

    def tag(self) -> str:
        return tag_of("dlib-v1", self.chip, self.dlib.__version__)

    def embed(self, dataset: Dataset, faces: Acquired, indices: np.ndarray) -> np.ndarray:
        out = np.full((indices.size, 128), np.nan, dtype=np.float32)
        for row, index in enumerate(indices):
            if not faces.ok[index]:
                continue
            if self.chip == "dlib" and np.isfinite(faces.boxes[index]).all():
                rgb = decode(self.runtime, dataset.samples[index].load())
                x1, y1, x2, y2 = (round(float(v)) for v in faces.boxes[index])
                shape = self.shapes(rgb, self.dlib.rectangle(x1, y1, x2, y2))
                out[row] = np.asarray(self.net.compute_face_descriptor(rgb, shape))
            else:
                chip = cv2.resize(faces.crops[index], (150, 150), interpolation=cv2.INTER_LINEAR)
                out[row] = np.asarray(self.net.compute_face_descriptor(np.ascontiguousarray(chip)))
        return out

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return -np.linalg.norm(a - b, axis=1)


def recognizers(runtime: Runtime, names: list[str], dlib_chip: str = "dlib") -> list[Recognizer]:
    """The named FR models; ``all`` = every ONNX face-recognition card plus dlib."""
    if names == ["all"]:
        names = [n for n, c in runtime.registry.cards.items() if c.kind == "face_recognition" and c.file] + [DLIB]
    out: list[Recognizer] = []
    for name in names:
        if name == DLIB:
            out.append(DlibRecognizer(runtime, dlib_chip))
        elif name in runtime.registry and runtime.registry[name].kind == "face_recognition":
            out.append(OnnxRecognizer(runtime, name))
        else:
            raise ValueError(f"unknown face-recognition model {name!r}")
    return out


def embeddings(recognizer: Recognizer, dataset: Dataset, faces: Acquired, cache: Cache, faces_tag: str) -> np.ndarray:
    """Embeddings of the acquired faces (NaN rows elsewhere), computed only where not cached yet."""
    tag = tag_of(recognizer.tag(), faces_tag)
    arrays = cache.rows(
        f"emb-{recognizer.name}",
        tag,
        len(faces.ok),
        faces.ok,
        lambda idx: {"embeddings": recognizer.embed(dataset, faces, idx)},
        chunk=256,
    )
    return np.where(faces.ok[:, None], arrays["embeddings"], np.nan)
