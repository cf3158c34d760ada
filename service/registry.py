"""Model cards: the single description of each model's files, tensors, normalisation and score mapping.

Cards live in ``models/<name>/card.yaml``. The gateway, the Triton repository builder and the evaluation
all read them; nothing restates a card's facts in code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from service.errors import ModelMismatch


class CardError(ValueError):
    """A card that this gateway cannot serve as written (a missing block, an unknown method, an ambiguous output)."""


class TensorSpec(BaseModel):
    """One ONNX input or output: -1 marks a dynamic axis. ``role`` says what an output means to the code that reads
    it (``quality`` of a network with several outputs; ``heatmap``, ``scale``... of the detector), so tensor names are
    read from the card, never restated in code."""

    model_config = ConfigDict(extra="forbid")
    name: str
    dtype: Literal["float32", "float16", "int64", "uint8"] = "float32"
    shape: list[int]
    role: str | None = None


class Preprocess(BaseModel):
    """How a face becomes the network input: a crop of ``crop_size`` pixels taken as ``alignment`` says, then
    (pixel - mean) * scale in channel order, laid out NCHW (PyTorch exports) or NHWC (TensorFlow and TF.js graphs).

    ``alignment``: ``arcface``, the gateway's 112x112 crop (resized to ``crop_size`` when that differs);
    ``face_box``, the same similarity transform zoomed out so the crop's side is ``crop_scale`` times the ArcFace
    crop's (a face with margin, as landmark networks read it); ``eyes``, one square crop per eye centred on its
    landmark, side ``crop_scale`` times the inter-eye distance, turned with the eye line; ``frame``, the whole
    frame resized; ``none``, the detector's own frame handling. ``GREY`` is one luma channel (ITU-R BT.601
    weights)."""

    model_config = ConfigDict(extra="forbid")
    alignment: str = "arcface"
    crop_size: int = 112
    crop_scale: float = 1.0
    channel_order: Literal["RGB", "BGR", "GREY"] = "RGB"
    mean: float | tuple[float, float, float] = 0.0  # per channel: in the network's channel order (Keras "caffe")
    scale: float = 1.0
    layout: Literal["NCHW", "NHWC"] = "NCHW"


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


# The kinds of network the component measures read (never a quality method).
MEASURE_NETWORKS = frozenset({"landmarks", "segmentation", "classifier"})


class ModelCard(BaseModel):
    """Everything the service needs to know about one model or quality method."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    # ``landmarks``, ``segmentation`` and ``classifier``: networks the component measures read (served like any
    # other network, never a quality method).
    kind: Literal["detector", "face_recognition", "quality", "landmarks", "segmentation", "classifier"]
    description: str = ""
    licence: str = ""
    file: str | None = None
    sha256: str | None = None  # of the file as served; checked at every load, a mismatch refuses the model
    inputs: list[TensorSpec] = Field(default_factory=list)
    outputs: list[TensorSpec] = Field(default_factory=list)
    preprocess: Preprocess | None = None
    # Quality methods: which networks they run, their raw -> score mapping and default threshold.
    method: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)  # the method's own settings, checked by the method
    uses: list[str] = Field(default_factory=list)
    score_mapping: ScoreMapping | None = None
    threshold: Threshold | None = None
    # A method whose image score does not rank faces (the evaluation says so) serves its per-pixel maps only: it
    # never gives ``quality.score`` or a 0..100 score, only its raw value beside the maps.
    maps_only: bool = False
    source: dict[str, str] = Field(default_factory=dict)
    training_data: str = ""
    metrics: dict[str, str] = Field(default_factory=dict)

    @property
    def networks(self) -> list[str]:
        """Names of the ONNX networks this card needs loaded (itself if it has a file)."""
        return [self.name] if self.file else list(self.uses)

    def output(self, role: str) -> str:
        """Name of the output with ``role``; a card with a single output needs no role. Raises ``CardError``."""
        named = [spec.name for spec in self.outputs if spec.role == role]
        if len(named) == 1:
            return named[0]
        if not named and len(self.outputs) == 1:
            return self.outputs[0].name
        raise CardError(f"{self.name}: needs exactly one output with role {role!r}, card has {len(named)}")

    def single_input(self) -> str:
        """Name of the network's one input. Raises ``CardError``."""
        if len(self.inputs) != 1:
            raise CardError(f"{self.name}: needs exactly one input, card has {len(self.inputs)}")
        return self.inputs[0].name


def update_card(card_path: Path, section: str, entries: Mapping[str, object]) -> None:
    """Set ``entries`` in a top-level mapping of a card (``metrics``, ``source``, ``parameters``), keeping every other
    line as written (cards carry hand-written prose); commands record their figures with this. Each value is
    written as JSON on one line (strings, numbers, lists: all valid YAML)."""
    lines = Path(card_path).read_text().splitlines()
    header = next((i for i, line in enumerate(lines) if re.match(rf"{section}:\s*(\{{\s*\}})?\s*$", line)), None)
    if header is None:
        lines.append("")
        header = len(lines) - 1
    lines[header] = f"{section}:"  # also turns an empty ``{}`` into a block
    end = header + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    for key, value in entries.items():
        # a JSON string is a valid YAML scalar, whatever it contains
        line = f"  {key}: {json.dumps(value, ensure_ascii=False)}"
        start = next((i for i in range(header + 1, end) if re.match(rf"  {re.escape(key)}:", lines[i])), None)
        if start is None:
            lines.insert(end, line)
            end += 1
            continue
        stop = start + 1
        # the old value's continuation lines (a folded scalar may hold blank lines between them)
        while stop < end and (lines[stop].startswith("    ") or (not lines[stop].strip() and _continues(lines, stop))):
            stop += 1
        lines[start:stop] = [line]
        end -= stop - start - 1
    text = "\n".join(lines) + "\n"
    ModelCard.model_validate(yaml.safe_load(text))  # refuse to write a card the registry would not load
    Path(card_path).write_text(text)


def _continues(lines: list[str], index: int) -> bool:
    """Whether the blank line at ``index`` sits inside a value: more of the value's indented lines follow."""
    rest = next((line for line in lines[index + 1 :] if line.strip()), "")
    return rest.startswith("    ")


def sha256_of(data: bytes) -> str:
    """The checksum cards carry for their files."""
    return hashlib.sha256(data).hexdigest()


def set_card_checksum(card_path: Path, digest: str) -> None:
    """Write a card's top-level ``sha256`` (of its file as served), after its ``file:`` line, keeping the rest."""
    text = Path(card_path).read_text()
    if re.search(r"^sha256: .*$", text, re.M):
        text = re.sub(r"^sha256: .*$", f"sha256: {digest}", text, count=1, flags=re.M)
    else:
        text = re.sub(r"^(file: .*)$", rf"\1\nsha256: {digest}", text, count=1, flags=re.M)
    ModelCard.model_validate(yaml.safe_load(text))
    Path(card_path).write_text(text)


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
        if expected is not None and sha256_of(data) != expected:
            raise ModelMismatch(f"{name}: {self.file_of(name)} does not match the sha256 in its card")
        return data

    def quality_methods(self) -> list[str]:
        return [name for name, card in self.cards.items() if card.kind == "quality"]
