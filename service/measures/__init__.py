"""Component measures of ISO/IEC 29794-5 (OFIQ's names), one module per measure or tight family, found by name.

``MEASURES`` holds those computed from the frame's size, the detector's boxes and five landmarks and the 112x112
aligned crop; ``NOT_PROVIDED`` says which of OFIQ's are missing and why. A measure added later (the FaceMesh pose,
eyes, mouth, expression, background) is one more module and one more entry here.
"""

from __future__ import annotations

from service.measures.base import NOT_ASSESSABLE, FaceView, Measure, MeasureResult
from service.measures.colour import NaturalColour
from service.measures.dynamic_range import DynamicRange
from service.measures.exposure import EXPOSURE
from service.measures.faces import SingleFacePresent
from service.measures.illumination import IlluminationUniformity
from service.measures.luminance import LuminanceMean, LuminanceVariance
from service.measures.margins import MARGINS
from service.measures.pose import HeadPoseRoll, HeadPoseYaw
from service.measures.sharpness import Sharpness
from service.measures.size import HeadSize, InterEyeDistance

__all__ = ["MEASURES", "NOT_ASSESSABLE", "NOT_PROVIDED", "FaceView", "Measure", "MeasureResult", "assess"]

MEASURES: dict[str, Measure] = {
    measure.name: measure
    for measure in (
        HeadPoseYaw(),
        HeadPoseRoll(),
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
    )
}

# OFIQ's measures we do not compute yet, and why.
NOT_PROVIDED: dict[str, str] = {
    "HeadPosePitch": "needs a 3-D landmark model (FaceMesh, being converted); five points do not show pitch",
    "EyesOpen": "needs eye-lid landmarks (FaceMesh / Iris, being converted)",
    "EyesVisible": "needs eye landmarks and an occlusion mask (FaceMesh / Iris, being converted)",
    "MouthClosed": "needs lip landmarks (FaceMesh, being converted)",
    "MouthOcclusionPrevention": "needs a face-occlusion segmentation network",
    "FaceOcclusionPrevention": "needs a face-occlusion segmentation network",
    "ExpressionNeutrality": "needs an expression classifier (emotion, being converted)",
    "BackgroundUniformity": "needs a person segmentation (Selfie, being converted)",
    "NoHeadCoverings": "needs a face-parsing network",
    "CompressionArtifacts": "OFIQ's is a CNN trained on its own data; a blockiness statistic cannot be read off the "
    "re-sampled aligned crop, and on the frame it misses non-JPEG codecs and re-encoded images",
    "UnifiedQualityScore": "served as quality.score by the quality models (OFIQ's is MagFace's norm)",
}


def assess(names: list[str], view: FaceView) -> dict[str, MeasureResult]:
    """The named measures on one face, in the order given."""
    return {name: MEASURES[name].assess(view) for name in names}
