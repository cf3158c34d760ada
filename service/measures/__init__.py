"""Component measures of ISO/IEC 29794-5 (OFIQ's names), one module per measure or tight family, found by name.

``MEASURES`` holds those computed from the frame's size, the detector's boxes and five landmarks and the 112x112
aligned crop, and those that read a network's outputs for the face (``needs``: FaceMesh, the emotion classifier);
``NOT_PROVIDED`` says which of OFIQ's are missing and why. A measure added later is one more module and one more
entry here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from service.measures.background import BackgroundUniformity
from service.measures.base import NOT_ASSESSABLE, FaceView, Measure, MeasureResult
from service.measures.colour import NaturalColour
from service.measures.dynamic_range import DynamicRange
from service.measures.exposure import EXPOSURE
from service.measures.expression import ExpressionNeutrality
from service.measures.faces import SingleFacePresent
from service.measures.illumination import IlluminationUniformity
from service.measures.luminance import LuminanceMean, LuminanceVariance
from service.measures.margins import MARGINS
from service.measures.mesh import EYES_OPEN, EYES_VISIBLE, MOUTH_CLOSED
from service.measures.networks import Outputs
from service.measures.pose import HEAD_POSE, HeadPoseRollFromLandmarks, HeadPoseYawFromLandmarks
from service.measures.sharpness import Sharpness
from service.measures.size import HeadSize, InterEyeDistance

# What a FaceView holds of itself; any other ``needs`` entry names a network
FACE_INPUTS = frozenset({"frame_size", "box", "faces", "landmarks", "pixels", "crop"})

__all__ = [
    "MEASURES",
    "NOT_ASSESSABLE",
    "NOT_PROVIDED",
    "FaceView",
    "Measure",
    "MeasureResult",
    "assess",
    "assess_faces",
    "networks_for",
]

MEASURES: dict[str, Measure] = {
    measure.name: measure
    for measure in (
        *HEAD_POSE,
        HeadPoseYawFromLandmarks(),
        HeadPoseRollFromLandmarks(),
        Sharpness(),
        *EXPOSURE,
        DynamicRange(),
        LuminanceMean(),
        LuminanceVariance(),
        IlluminationUniformity(),
        NaturalColour(),
        InterEyeDistance(),
        HeadSize(),
        *MARGINS,
        SingleFacePresent(),
        EYES_OPEN,
        EYES_VISIBLE,
        MOUTH_CLOSED,
        ExpressionNeutrality(),
        BackgroundUniformity(),
    )
}

# OFIQ's measures we do not compute yet, and why.
NOT_PROVIDED: dict[str, str] = {
    "MouthOcclusionPrevention": "needs a face-occlusion segmentation network",
    "FaceOcclusionPrevention": "needs a face-occlusion segmentation network",
    "NoHeadCoverings": "needs a face-parsing network",
    "CompressionArtifacts": "OFIQ's is a CNN trained on its own data; a blockiness statistic cannot be read off the "
    "re-sampled aligned crop, and on the frame it misses non-JPEG codecs and re-encoded images",
    "UnifiedQualityScore": "served as quality.score by the quality models (OFIQ's is MagFace's norm)",
}


def networks_for(names: list[str]) -> set[str]:
    """What the named measures need beyond the frame, the landmarks and the crop: the networks (model cards) to run
    on each face first."""
    return {need for name in names for need in MEASURES[name].needs} - FACE_INPUTS


def assess(names: list[str], view: FaceView) -> dict[str, MeasureResult]:
    """The named measures on one face, in the order given."""
    return {name: MEASURES[name].assess(view) for name in names}


async def assess_faces(
    names: list[str], views: list[FaceView], networks: Awaitable[list[dict[str, Outputs]]]
) -> list[dict[str, MeasureResult]]:
    """The named measures on each face, in the order given, once the networks' outputs per face (``networks``) are
    in: all of them in one worker thread. Running the pixel measures beside the networks was slower, not faster
    (``loadtests.bench_measures``): their many small numpy calls hold the GIL that the network threads' pre- and
    post-processing and the event loop wait for, and on two cores there is no idle core for them anyway."""
    for view, found in zip(views, await networks, strict=True):
        view.networks.update(found)
    return await asyncio.to_thread(lambda: [assess(names, view) for view in views])
