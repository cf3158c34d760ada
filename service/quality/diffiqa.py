"""Analytic DifFIQA scorer without the backward (denoising) pass (not the paper's ablation A2: that drops the
forward pass).

For each face: embed the crop x, its mirror x^f and n forward-diffused copies of both,
x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps (DDPM linear schedule, T = 1000), and score the mean cosine
similarity of all of them to e_x (DifFIQA Eq. 7). n, t and the seed are the card's ``parameters`` (its score
mapping was fitted for them). The noise is seeded from the crop's bytes, so the same image always gets the same
score, whatever else is in its batch.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from service.quality.base import QualityMethod, Tensors, network_input
from service.registry import CardError, ModelCard, Registry

T_STEPS = 1000
BETAS = np.linspace(1e-4, 0.02, T_STEPS, dtype=np.float64)
ALPHA_BAR = np.cumprod(1.0 - BETAS)


class DifFIQAParameters(BaseModel):
    """The card's ``parameters``: n noisy copies, diffusion step t, noise seed."""

    model_config = ConfigDict(extra="forbid")
    repeats: int = Field(ge=0)
    timestep: int = Field(ge=1, le=T_STEPS)
    seed: int


class DifFIQAPerturbation(QualityMethod):
    """Perturbation stability of the face-recognition embedding (forward diffusion + flip); the card ``uses`` one
    face-recognition network (its embedding: the single output, or the one with ``role: embedding``)."""

    method = "diffiqa_perturbation"
    Parameters = DifFIQAParameters
    params: DifFIQAParameters

    def __init__(self, card: ModelCard, registry: Registry, **overrides: Any):
        super().__init__(card, registry, **overrides)
        if len(card.uses) != 1 or card.uses[0] not in registry:
            raise CardError(f"{card.name}: method {self.method!r} uses exactly one face-recognition card")
        self.recognition = registry[card.uses[0]]
        if self.recognition.preprocess is None:
            raise CardError(f"{self.recognition.name}: needs a preprocess block")
        self.preprocess = self.recognition.preprocess
        self.input = self.recognition.single_input()
        self.embedding = self.recognition.output("embedding")
        self.repeats = self.params.repeats
        self.timestep = self.params.timestep
        self.seed = self.params.seed

    @property
    def copies(self) -> int:
        """Embeddings per face: x, x^f and n noisy copies of each."""
        return 2 + 2 * self.repeats

    def rows_per_face(self) -> dict[str, int]:
        return {self.recognition.name: self.copies}

    def perturb(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N * copies, S, S, 3) float pixels on 0..255, face-major."""
        x0 = crops.astype(np.float64) / 127.5 - 1.0
        flipped = x0[:, :, ::-1]
        abar = ALPHA_BAR[self.timestep - 1]
        out = np.empty((crops.shape[0], self.copies, *crops.shape[1:]), dtype=np.float64)
        r = self.repeats
        for face, (image, mirror) in enumerate(zip(x0, flipped, strict=True)):
            rng = np.random.default_rng([self.seed, zlib.crc32(crops[face].tobytes())])
            out[face, 0], out[face, 1] = image, mirror
            # the noise is drawn straight into its slots, then scaled and shifted in place (same values as
            # sqrt(abar) x + sqrt(1 - abar) eps, without temporaries)
            noisy = out[face, 2:].reshape(2, r, *image.shape)
            rng.standard_normal(noisy.shape, out=noisy)
            noisy *= np.sqrt(1 - abar)
            noisy[0] += np.sqrt(abar) * image
            noisy[1] += np.sqrt(abar) * mirror
        np.clip(out, -1.0, 1.0, out=out)
        out += 1.0
        out *= 127.5
        return out.reshape(-1, *crops.shape[1:])

    def prepare(self, crops: np.ndarray) -> dict[str, Tensors]:
        return {self.recognition.name: {self.input: network_input(self.perturb(crops), self.preprocess)}}

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        embeddings = outputs[self.recognition.name][self.embedding].astype(np.float64)
        embeddings = embeddings.reshape(faces, self.copies, -1)
        embeddings /= np.maximum(np.linalg.norm(embeddings, axis=2, keepdims=True), 1e-12)
        cosines = np.einsum("fd,fkd->fk", embeddings[:, 0], embeddings[:, 1:])
        return cosines.mean(axis=1)
