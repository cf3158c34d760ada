"""DifFIQA with its diffusion model: the trained DDPM restores real faces (closer to them than the noisy input),
the scorer's shapes, and its variants are Eq. 7 over the right embeddings, the served score among them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fiqa.diffusion.schedule import backward, ddim, q_sample
from fiqa.diffusion.score import DiffusionScorer, variants
from fiqa.diffusion.train import SIZE, load, to_tensor
from fiqa.diffusion.unet import UNet
from fiqa.labels.diffiqa import analytic_scorer, embed
from service.quality.base import resize_crops

CHECKPOINT = Path(__file__).resolve().parents[3] / "models" / "diffiqa_ddpm" / "model.pt"


@pytest.fixture(scope="module")
def served():
    scorer, backend, _ = analytic_scorer(threads=1)
    return scorer, backend


@pytest.mark.parametrize("t", [10, 50])
def test_the_trained_model_restores_real_faces(real_faces: np.ndarray, t: int) -> None:
    model = load(CHECKPOINT)
    x0 = to_tensor(resize_crops(real_faces, SIZE))
    generator = torch.Generator().manual_seed(0)
    x_t = q_sample(x0, torch.full((len(x0),), t), torch.randn(x0.shape, generator=generator))
    noisy = (x_t - x0).pow(2).mean(dim=(1, 2, 3))
    for restored in (
        backward(model, x_t, t, torch.randn((t - 1, *x0.shape), generator=generator)),
        ddim(model, x_t, t, steps=2),
    ):
        assert restored.shape == x0.shape
        assert ((restored - x0).pow(2).mean(dim=(1, 2, 3)) < noisy).all()


@pytest.mark.parametrize("steps", [None, 2])
def test_reconstructions_have_the_crop_shape_and_are_seeded_by_the_crop(real_faces, served, steps) -> None:
    scorer = DiffusionScorer(load(CHECKPOINT), *served, steps=steps)
    restored, detail = scorer.reconstruct(real_faces[:2])
    for pixels in (restored, detail):
        assert pixels.shape == (2, 2 * scorer.repeats, 112, 112, 3)
        assert pixels.min() >= 0 and pixels.max() <= 255
    # detail kept: the crop (then its mirror) moved only by the DDPM's change, which is small at t = 10
    assert np.abs(detail[:, 0] - real_faces[:2]).mean() < np.abs(restored[:, 0] - real_faces[:2]).mean()
    assert np.abs(detail[:, -1] - real_faces[:2, :, ::-1]).mean() < 10
    # the same face gets the same reconstructions whatever else is in its batch
    alone = scorer.reconstruct(real_faces[1:2])
    assert np.allclose(alone[0][0], restored[1], atol=1e-3) and np.allclose(alone[1][0], detail[1], atol=1e-3)


def test_variants_are_eq7_over_their_embeddings(real_faces, served) -> None:
    torch.manual_seed(0)
    scorer = DiffusionScorer(UNet((8, 16, 32)), *served, steps=1)
    crops = real_faces[:2]
    n = scorer.repeats
    served_scorer, backend = served
    copies = served_scorer.perturb(crops).reshape(len(crops), served_scorer.copies, *crops.shape[1:])
    outputs = {k: backend.infer_sync(k, v) for k, v in served_scorer.prepare(crops).items()}
    raw = served_scorer.postprocess(outputs, len(crops))
    restored, detail = scorer.reconstruct(crops)
    cosines = scorer.cosines(crops)
    assert cosines.shape == (2, 2 + 4 * n)
    found = variants(raw, cosines, n)
    assert np.array_equal(found["forward_only"], raw)
    # e_x against x^f, the 2n noisy copies and the 2n reconstructions, every one counted once
    for name, generated in (("full", restored), ("full_detail", detail)):
        embeddings = embed(served_scorer, backend, np.concatenate([copies, generated], axis=1))
        direct = np.einsum("fd,fkd->fk", embeddings[:, 0], embeddings[:, 1:])
        assert np.allclose(found[name], direct.mean(axis=1), atol=1e-6)
    mirror_and_restored = np.concatenate([direct[:, :1], cosines[:, 1 : 1 + 2 * n]], axis=1)
    assert np.allclose(found["backward_only"], mirror_and_restored.mean(axis=1), atol=1e-6)
    assert (cosines[:, -1] > 0.5).all()  # the noiseless round trip through 64 pixels keeps the identity
