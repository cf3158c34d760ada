"""Model cards: the single description of each model's files, tensors, normalisation and score mapping.

Cards live in ``models/<name>/card.yaml``. The gateway, the Triton repository builder and the evaluation
all read them; nothing restates a card's facts in code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from service.errors import ModelMismatch


class TensorSpec(BaseModel):
    """One ONNX input or output: -1 marks a dynamic axis."""

    model_config = ConfigDict(extra="forbid")
    name: str
    dtype: Literal["float32", "float16", "int64", "uint8"] = "float32"
    shape: list[int]


class Preprocess(BaseModel):
    """How an aligned crop becomes the network input: (pixel - mean) * scale, in channel order."""

    model_config = ConfigDict(extra="forbid")
    alignment: str = "arcface"
    crop_size: int = 112
    channel_order: Literal["RGB", "BGR"] = "RGB"
    mean: float = 0.0
    scale: float = 1.0
    layout: Literal["NCHW"] = "NCHW"


class ScoreMapping(BaseModel):
    """Raw model output -> 0..100 (higher is better), as fitted and stated in the card."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["linear"] = "linear"
    raw_low: float
    raw_high: float
    fitted_on: str = ""

    def to_score(self, raw: np.ndarray) -> np.ndarray:
        """Map raw values linearly so ``raw_low`` -> 0 and ``raw_high`` -> 100, clipped."""
        span = self.raw_high - self.raw_low
        return np.clip((np.asarray(raw, dtype=np.float64) - self.raw_low) / span * 100.0, 0.0, 100.0)


class Threshold(BaseModel):
    """A decision threshold on the 0..100 scale and where it came from."""

    model_config = ConfigDict(extra="forbid")
    value: float
    source: str


class ModelCard(BaseModel):
    """Everything the service needs to know about one model or quality method."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    kind: Literal["detector", "face_recognition", "quality"]
    description: str = ""
    licence: str = ""
    file: str | None = None
    sha256: str | None = None  # of the file as served; checked at every load, a mismatch refuses the model
    inputs: list[TensorSpec] = Field(default_factory=list)
    outputs: list[TensorSpec] = Field(default_factory=list)
    preprocess: Preprocess | None = None
    # Quality methods: which networks they run, their raw -> score mapping and default threshold.
    method: str | None = None
    uses: list[str] = Field(default_factory=list)
    score_mapping: ScoreMapping | None = None
    threshold: Threshold | None = None
    source: dict[str, str] = Field(default_factory=dict)
    training_data: str = ""
    metrics: dict[str, str] = Field(default_factory=dict)

    @property
    def networks(self) -> list[str]:
        """Names of the ONNX networks this card needs loaded (itself if it has a file)."""
        return [self.name] if self.file else list(self.uses)


class Registry:
    """All cards found under a models directory, by name."""

    def __init__(self, models_dir: Path):
        self.models_dir = Path(models_dir)
        self.cards: dict[str, ModelCard] = {}
        for card_path in sorted(self.models_dir.glob("*/card.yaml")):
            card = ModelCard.model_validate(yaml.safe_load(card_path.read_text()))
            if card.name != card_path.parent.name:
                raise ValueError(f"{card_path}: card name {card.name!r} differs from its folder")
            self.cards[card.name] = card

    def __getitem__(self, name: str) -> ModelCard:
        return self.cards[name]

    def __contains__(self, name: str) -> bool:
        return name in self.cards

    def file_of(self, name: str) -> Path:
        """Path of a network's ONNX file."""
        card = self.cards[name]
        if card.file is None:
            raise KeyError(f"model {name} has no file")
        return self.models_dir / name / card.file

    def read_verified(self, name: str) -> bytes:
        """A network's file bytes, refused when they are not the bytes its card's checksum names (a swapped,
        truncated or retrained-in-place file is not served under the card's name). Hashing tens of MB takes
        well under a second, so this runs at every start."""
        data = self.file_of(name).read_bytes()
        expected = self.cards[name].sha256
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            raise ModelMismatch(f"{name}: {self.file_of(name)} does not match the sha256 in its card")
        return data

    def quality_methods(self) -> list[str]:
        return [name for name, card in self.cards.items() if card.kind == "quality"]
