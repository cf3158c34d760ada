"""What every component measure shares: the view of one face it reads, the result it gives, the ``Measure`` base and
the pixel helpers (luminance, the face region of the aligned crop, OFIQ's sigmoid mapping).

A measure never raises on a face it cannot judge: it returns ``-1`` for raw and score with a short reason, as OFIQ
does, so the other measures and the quality score are still returned. Measures that need a network (the FaceMesh
pose, eyes, mouth, expression, background) plug in as further ``Measure`` subclasses whose ``needs`` names what
they read; the pipeline fills the view once per face and the registry (``service.measures``) finds them by name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from service.align import AlignedFace, crop_inside_frame
from service.detect import Face

T = TypeVar("T")
NOT_ASSESSABLE = -1.0
# Below this many face pixels of the 112x112 crop inside the frame, pixel statistics say nothing.
MIN_FACE_PIXELS = 500
CROP = 112


@dataclass(frozen=True)
class FaceView:
    """One face as the measures see it: the frame's size, every detected face's box (for SingleFacePresent), this
    face's box and five landmarks in frame pixels, and its aligned 112x112 RGB crop with the frame -> crop affine."""

    width: int
    height: int
    box: np.ndarray  # (4,) x1, y1, x2, y2
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left and right mouth corners (image left/right)
    crop: np.ndarray  # (112, 112, 3) uint8 RGB
    transform: np.ndarray  # (2, 3) frame -> crop
    boxes: tuple[np.ndarray, ...] = field(default_factory=tuple)
    # per network a measure ``needs`` (e.g. ``facemesh``): its outputs for this face's crop, by output name
    networks: dict[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def shared(self, key: str, compute: Callable[[FaceView], T]) -> T:
        """``compute(self)``, worked out once per face for every measure that asks under ``key`` (the three pose
        angles come from one fit of the mesh)."""
        if key not in self._shared:
            self._shared[key] = compute(self)
        return self._shared[key]

    @classmethod
    def of(
        cls,
        face: Face,
        aligned: AlignedFace,
        size: tuple[int, int],
        faces: list[Face],
        networks: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    ) -> FaceView:
        """The view of ``face`` (one of the frame's detected ``faces``) in a frame of ``size`` (width, height), with
        the outputs of the networks its measures need for it."""
        boxes = tuple(other.box for other in faces)
        outputs = dict(networks or {})  # its own: the outputs may be added once the networks have run
        return cls(size[0], size[1], face.box, face.landmarks, aligned.crop, aligned.transform, boxes, outputs)

    @cached_property
    def luminance(self) -> np.ndarray:
        """Luma Y' (ITU-R BT.601 weights) of the crop, 0..255 float32."""
        rgb = self.crop.astype(np.float32)
        return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114

    @cached_property
    def face_mask(self) -> np.ndarray:
        """The face region of the crop that came from inside the frame: a fixed ellipse over forehead, cheeks and
        chin of the ArcFace template (OFIQ segments the face with a face-parsing network, which we do not have),
        less the padding the alignment added where the crop left the frame."""
        return _FACE_ELLIPSE & self._inside

    @cached_property
    def face_pixels(self) -> int:
        """How many pixels ``face_mask`` holds (every pixel measure checks it first)."""
        return int(self.face_mask.sum())

    @cached_property
    def face_luminance(self) -> np.ndarray:
        """``luminance`` inside ``face_mask``, flattened: what the exposure, luminance and dynamic-range measures
        read."""
        return self.luminance[self.face_mask]

    @cached_property
    def _inside(self) -> np.ndarray:
        return crop_inside_frame(self.transform, CROP, (self.height, self.width))

    @property
    def inter_eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))


def _ellipse(size: int = CROP) -> np.ndarray:
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    # ArcFace template at 112: eyes near y 51.6, mouth near y 92.3, face centre x 56; forehead to chin ~ y 22..110
    return ((cols - 56.0) / 34.0) ** 2 + ((rows - 66.0) / 44.0) ** 2 <= 1.0


_FACE_ELLIPSE = _ellipse()


@dataclass(frozen=True)
class MeasureResult:
    """A measure's raw value and 0..100 component (100 best); both ``-1`` with ``reason`` when not assessable."""

    raw: float
    score: float
    reason: str | None = None

    @property
    def assessed(self) -> bool:
        return self.reason is None


def not_assessable(reason: str) -> MeasureResult:
    return MeasureResult(NOT_ASSESSABLE, NOT_ASSESSABLE, reason)


def network_outputs(view: FaceView, network: str) -> Mapping[str, np.ndarray] | MeasureResult:
    """The face's outputs of ``network``, or 'not assessable' when the gateway could not load it."""
    outputs = view.networks.get(network)
    return not_assessable(f"the {network} network is not loaded") if outputs is None else outputs


class Measure(ABC):
    """One component measure. ``name`` is OFIQ's (ISO/IEC 29794-5) name; ``raw_scale`` and ``mapping`` say what the
    raw value is and how it becomes 0..100 (shown by /v1/models); ``reason`` is the decision's rejection reason when
    the component falls below its threshold; ``needs`` names what of the ``FaceView`` it reads. A family of
    measures sharing one computation (the crop margins, the exposure tails) sets them per instance."""

    name: str
    raw_scale: str
    mapping: str
    reason: str
    needs: frozenset[str]

    def assess(self, view: FaceView) -> MeasureResult:
        """The measure on ``view``; a non-finite raw value becomes 'not assessable', never an exception."""
        if "pixels" in self.needs and view.face_pixels < MIN_FACE_PIXELS:
            return not_assessable("too little of the face lies inside the frame")
        result = self._assess(view)
        if result.assessed and not (math.isfinite(result.raw) and math.isfinite(result.score)):
            return not_assessable("the raw value is not a finite number")
        return result

    @abstractmethod
    def _assess(self, view: FaceView) -> MeasureResult: ...

    def reason_for(self, result: MeasureResult) -> str:
        """The rejection reason for a component below threshold (a two-sided measure says which side)."""
        return self.reason

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "raw_scale": self.raw_scale,
            "mapping": self.mapping,
            "reason": self.reason,
            "needs": sorted(self.needs),
        }


class NetworkMeasure(Measure):
    """A measure read off one network's outputs for the face (``network``: its card's name); 'not assessable' when
    the gateway could not load that network."""

    network: str

    @property
    def needs(self) -> frozenset[str]:  # type: ignore[override]
        return frozenset({self.network})

    def _assess(self, view: FaceView) -> MeasureResult:
        outputs = network_outputs(view, self.network)
        return outputs if isinstance(outputs, MeasureResult) else self._read(view, outputs)

    @abstractmethod
    def _read(self, view: FaceView, outputs: Mapping[str, np.ndarray]) -> MeasureResult: ...


def sigmoid_component(x: float, *, h: float = 100.0, a: float = 0.0, s: float = 1.0, x0: float, w: float) -> float:
    """OFIQ's raw -> component mapping: h * (a + s / (1 + exp(-(x - x0) / w))), clipped to 0..100 and rounded."""
    z = max(min((x - x0) / w, 60.0), -60.0)
    return float(round(min(max(h * (a + s / (1.0 + math.exp(-z))), 0.0), 100.0)))


def component(value: float) -> float:
    """A 0..100 value clipped and rounded to an integer, as ISO/IEC 29794-5 components are."""
    return float(round(min(max(value, 0.0), 100.0)))
