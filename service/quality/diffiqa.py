"""Analytic DifFIQA scorer without the backward (denoising) pass (the paper's ablation A2).

For each face: embed the crop x, its mirror x^f and n forward-diffused copies of both,
x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps (DDPM linear schedule, T = 1000), and score the mean cosine
similarity of all of them to e_x (DifFIQA Eq. 7). The noise is seeded from the crop's bytes, so the same
image always gets the same score, whatever else is in its batch.
"""

from __future__ import annotations

import zlib

import numpy as np

from service.quality.base import Tensors, network_input
from service.registry import ModelCard

T_STEPS = 1000
BETAS = np.linspace(1e-4, 0.02, T_STEPS, dtype=np.float64)
ALPHA_BAR = np.cumprod(1.0 - BETAS)


class DifFIQAPerturbation:
    """Perturbation stability of the face-recognition embedding (forward diffusion + flip)."""

    def __init__(self, card: ModelCard, recognition: ModelCard, *, repeats: int, timestep: int, seed: int):
        if not 1 <= timestep <= T_STEPS:
            raise ValueError(f"diffiqa timestep must be in 1..{T_STEPS}, got {timestep}")
        self.card = card
        self.recognition = recognition
        self.repeats = repeats
        self.timestep = timestep
        self.seed = seed

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def copies(self) -> int:
        """Embeddings per face: x, x^f and n noisy copies of each."""
        return 2 + 2 * self.repeats

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
        pre = self.recognition.preprocess
        assert pre is not None
        tensor = network_input(self.perturb(crops), pre)
        return {self.recognition.name: {self.recognition.inputs[0].name: tensor}}

    def postprocess(self, outputs: dict[str, Tensors], faces: int) -> np.ndarray:
        embeddings = outputs[self.recognition.name][self.recognition.outputs[0].name].astype(np.float64)
        embeddings = embeddings.reshape(faces, self.copies, -1)
        embeddings /= np.maximum(np.linalg.norm(embeddings, axis=2, keepdims=True), 1e-12)
        cosines = np.einsum("fd,fkd->fk", embeddings[:, 0], embeddings[:, 1:])
        return cosines.mean(axis=1)

    def to_score(self, raw: np.ndarray) -> np.ndarray:
        assert self.card.score_mapping is not None
        return self.card.score_mapping.to_score(raw)
