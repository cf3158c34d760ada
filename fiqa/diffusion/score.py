"""DifFIQA as published: forward noising to step t, backward reconstruction by the DDPM, flips, Eq. 7.

Built on the served analytic scorer (``diffiqa``, the method without the backward pass): the same
face-recognition network and the same n, t and seed, so the full method differs from it only by the
reconstructions. For each face x and its mirror x^f, n copies are noised to step t at the DDPM's 64x64 side (noise
seeded by the crop bytes, as the served copies are), denoised from t to 0 (t ancestral steps, or ``steps``
deterministic DDIM steps), and resized back to 112 for the face-recognition network.

The 64-pixel side costs detail that the 112 face-recognition network sees, so each reconstruction also exists
"detail kept": the 112 crop plus the resized change the backward process made at 64 (x + up(x_hat - x_64)), where
only the DDPM's change moves the embedding. Per face, ``DiffusionScorer.cosines`` gives the cosines to e_x of:
x^f, n x_hat, n x_hat^f, the same 2n detail kept, and one 112 -> 64 -> 112 round trip of x without noise (how much
the resolution alone moves the embedding: a diagnostic outside every score). The noisy copies' cosines are the
served scorer's; ``variants`` combines the two.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from fiqa.diffusion.schedule import backward, ddim, q_sample
from fiqa.diffusion.train import SIZE, to_tensor
from fiqa.diffusion.unet import UNet
from fiqa.labels.diffiqa import embed
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.quality.base import resize_crops
from service.quality.diffiqa import DifFIQAPerturbation

NOISE_STREAM = 1  # the reconstructions' noise: a stream of the crop's seed apart from the served copies' noise


def to_pixels(images: torch.Tensor, side: int) -> np.ndarray:
    """float (N, 3, s, s) on [-1, 1] -> float32 (N, side, side, 3) on 0..255 (bilinear up to ``side``)."""
    pixels = ((images.clamp(-1.0, 1.0) + 1.0) * 127.5).permute(0, 2, 3, 1).numpy().astype(np.float32)
    return resize_crops(pixels, side)


class DiffusionScorer:
    """Cosines of a face's embedding to those of its mirror and of its DDPM reconstructions (and the mirror's)."""

    def __init__(self, model: UNet, served: DifFIQAPerturbation, backend: OnnxRuntimeBackend, steps: int | None = None):
        self.model = model.eval()
        self.served = served
        self.backend = backend
        self.repeats = served.repeats
        self.timestep = served.timestep
        self.steps = steps  # None: the paper's t ancestral steps; k: k deterministic DDIM steps

    def noises(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """This crop's forward noise (2n, 3, S, S) and ancestral noise (t - 1, 2n, 3, S, S; none for DDIM),
        seeded by its bytes so a face gets the same reconstructions whatever its batch."""
        rng = np.random.default_rng([self.served.seed, zlib.crc32(crop.tobytes()), NOISE_STREAM])
        copies = 2 * self.repeats
        forward = rng.standard_normal((copies, 3, SIZE, SIZE), dtype=np.float32)
        later = 0 if self.steps else self.timestep - 1
        return forward, rng.standard_normal((later, copies, 3, SIZE, SIZE), dtype=np.float32)

    def restore(self, x0: torch.Tensor, eps: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x_hat from x0 (N, 3, S, S): forward-noise to step t with ``eps``, then the backward process."""
        x_t = q_sample(x0, torch.full((len(x0),), self.timestep, dtype=torch.long), eps)
        if self.steps:
            return ddim(self.model, x_t, self.timestep, self.steps)
        return backward(self.model, x_t, self.timestep, z)

    def reconstruct(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 112, 112, 3) uint8 -> (restored, detail kept), each (N, 2n, 112, 112, 3) float pixels on 0..255:
        n reconstructions of x, then n of x^f."""
        small = to_tensor(resize_crops(crops, SIZE))
        both = torch.stack([small, small.flip(-1)], dim=1)  # (N, 2, 3, S, S)
        x0 = both.repeat_interleave(self.repeats, dim=1).reshape(-1, 3, SIZE, SIZE)
        drawn = [self.noises(crop) for crop in crops]
        eps = torch.from_numpy(np.concatenate([forward for forward, _ in drawn]))
        z = torch.from_numpy(np.concatenate([later for _, later in drawn], axis=1))
        restored = self.restore(x0, eps, z)
        side = crops.shape[1]
        change = resize_crops(((restored - x0) * 127.5).permute(0, 2, 3, 1).numpy().astype(np.float32), side)
        full = np.stack([crops, crops[:, :, ::-1]], axis=1).repeat(self.repeats, axis=1).astype(np.float32)
        shape = (len(crops), 2 * self.repeats, side, side, 3)
        detail = np.clip(full + change.reshape(shape), 0.0, 255.0)
        return to_pixels(restored, side).reshape(shape), detail

    def cosines(self, crops: np.ndarray) -> np.ndarray:
        """(N, 2 + 4n) cosines to e_x of x^f, the 2n reconstructions, the 2n detail kept and the round trip."""
        crops = np.ascontiguousarray(crops)
        plain = crops.astype(np.float32)
        trip = to_pixels(to_tensor(resize_crops(crops, SIZE)), crops.shape[1])
        pixels = np.concatenate(
            [plain[:, None], plain[:, None, :, ::-1], *self.reconstruct(crops), trip[:, None]], axis=1
        )
        embeddings = embed(self.served, self.backend, pixels)
        return np.einsum("fd,fkd->fk", embeddings[:, 0], embeddings[:, 1:])


def variants(served: np.ndarray, cosines: np.ndarray, repeats: int) -> dict[str, np.ndarray]:
    """Quality per face (Eq. 7: mean cosine to e_x over the generated embeddings, each counted once) of the full
    method and its ablations, from the served ``diffiqa`` raw score (mean over x^f and the 2n noisy copies) and
    ``DiffusionScorer.cosines``:

    - ``full``: x^f, the 2n noisy copies and the 2n reconstructions;
    - ``full_detail``: the same with the detail-kept reconstructions;
    - ``forward_only``: x^f and the noisy copies (the served ``diffiqa``, returned as given);
    - ``backward_only``: x^f and the reconstructions (the paper's A2, without the forward pass's embeddings)."""
    n = repeats
    restored = cosines[:, 1 : 1 + 2 * n].sum(axis=1)
    detail = cosines[:, 1 + 2 * n : 1 + 4 * n].sum(axis=1)
    return {
        "full": (served * (1 + 2 * n) + restored) / (1 + 4 * n),
        "full_detail": (served * (1 + 2 * n) + detail) / (1 + 4 * n),
        "forward_only": served,
        "backward_only": (cosines[:, 0] + restored) / (1 + 2 * n),
    }
