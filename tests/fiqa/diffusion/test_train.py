"""Training lowers the noise-prediction loss on a tiny batch; a short run saves a model that loads back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from fiqa.diffusion import train as T
from fiqa.diffusion.unet import UNet


def test_training_steps_reduce_the_loss_on_a_tiny_batch(real_faces: np.ndarray) -> None:
    torch.manual_seed(0)
    x0 = T.to_tensor(T.resize_crops(real_faces, 32))
    t = torch.tensor([3, 30, 90])
    noise = torch.randn_like(x0)
    model = UNet((8, 16, 32))
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    before = T.diffusion_loss(model, x0, t, noise).item()
    for _ in range(30):
        loss = T.diffusion_loss(model, x0, t, noise)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = T.diffusion_loss(model, x0, t, noise).item()
    assert after < 0.7 * before


def test_a_short_run_keeps_its_best_weights_and_facts(real_faces: np.ndarray, tmp_path: Path) -> None:
    faces = T.resize_crops(real_faces, 32)
    validation = T.Validation(faces, count=2, seed=0)
    model, facts = T.train(
        faces, validation, minutes=5, batch=2, seed=0, channels=(8, 16, 32), validate_every=2, max_steps=4
    )
    assert facts["steps"] == 4 and [r["step"] for r in facts["history"]] == [2, 4]
    best = min(min(r["val_loss"], r["val_loss_ema"]) for r in facts["history"])
    assert facts["best"]["val_loss"] == best
    assert abs(validation.loss(model) - best) < 1e-5  # the returned weights are the best ones
    T.save(model, facts, tmp_path)
    again = T.load(tmp_path / "model.pt")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(again(x, torch.tensor([5])), model(x, torch.tensor([5])))
    assert json.loads((tmp_path / "facts.json").read_text())["steps"] == 4
