"""fiqa.ifqa.train and networks: FPRS labels follow the swap (Eq. 2), the losses, a short real training run
and the ONNX export with its parity check (small synthetic faces; the real data is not needed here)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from insightface.utils.face_align import arcface_dst

from fiqa.ifqa import regions
from fiqa.ifqa import train as T
from fiqa.ifqa.networks import Generator, UNetDiscriminator

SIZE = 32


@pytest.fixture(scope="module")
def faces() -> T.FaceSet:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (6, 112, 112, 3), dtype=np.uint8)
    landmarks = np.stack([arcface_dst + rng.normal(0, 1.5, (5, 2)) for _ in range(6)]).astype(np.float32)
    return T.make_faceset(crops, landmarks, SIZE)


def test_faceset_scales_landmarks_to_the_training_size(faces):
    assert faces.images.shape == (6, SIZE, SIZE, 3) and faces.masks.shape == (6, SIZE, SIZE)
    # frame == 112 crop here (identity transform up to the noise), so landmarks scale by SIZE / 112
    np.testing.assert_allclose(faces.landmarks.mean(0), arcface_dst * SIZE / 112, atol=1.0)


def test_discriminator_targets_follow_the_swap(faces):
    rng = np.random.default_rng(3)
    batch = T.sample_batch(faces, 8, rng)
    batch.hq[:] = 1.0  # make the sources recognisable
    batch.lq[:] = -1.0
    restored = torch.full_like(batch.hq, -0.5)
    inputs, targets = T.discriminator_batch(batch, restored, rng)
    assert inputs.shape == (24, 3, SIZE, SIZE) and targets.shape == (24, 1, SIZE, SIZE)
    hq_rows, fake_rows, mixed = inputs[:8], inputs[8:16], inputs[16:]
    assert torch.equal(targets[:8], batch.face)  # HQ: real only inside the face oval (Eq. 6)
    assert torch.all(targets[8:16] == 0)  # LQ / RF: fake everywhere
    assert torch.all(hq_rows == 1.0) and set(fake_rows.unique().tolist()) <= {-1.0, -0.5}
    shows_hq = mixed[:, :1] == 1.0
    m = batch.fprs.bool()
    for row in range(8):
        # the HQ pixels of a mix are either exactly M_FPRS or exactly its complement (Eq. 2) ...
        assert torch.equal(shows_hq[row], m[row]) or torch.equal(shows_hq[row], ~m[row])
    # ... and only HQ pixels inside the face are labelled real
    assert torch.equal(targets[16:], shows_hq.float() * batch.face)
    assert targets[16:].sum() > 0


def test_generator_loss_weights_and_perceptual_features(faces):
    torch.manual_seed(0)
    batch = T.sample_batch(faces, 4, np.random.default_rng(0))
    g, d = Generator(8), UNetDiscriminator(8)
    losses = T.generator_loss(d, batch, g(batch.lq))
    expected = losses["adv"] + T.LAMBDA_PIX * losses["pix"] + T.LAMBDA_PERCEPTUAL * losses["perc"]
    assert torch.isclose(losses["total"], expected)
    assert losses["perc"] > 0
    # the perceptual term vanishes when the restoration equals the HQ image
    assert T.generator_loss(d, batch, batch.hq)["perc"] == 0


@pytest.mark.slow
def test_short_training_run_is_seeded_and_learns(faces):
    _, d1, history = T.train(faces, steps=3, batch=4, seed=5, log_every=10)
    _, d2, _ = T.train(faces, steps=3, batch=4, seed=5, log_every=10)
    assert all(np.isfinite(list(record.values())).all() for record in history)
    for a, b in zip(d1.state_dict().values(), d2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    fresh = UNetDiscriminator().state_dict()
    assert any(not torch.equal(a, fresh[key]) for key, a in d1.state_dict().items())


def test_discriminator_outputs_a_probability_per_pixel_without_batch_statistics():
    d = UNetDiscriminator(8).eval()
    x = torch.rand(3, 3, SIZE, SIZE) * 2 - 1
    out = d(x)
    assert out.shape == (3, 1, SIZE, SIZE) and out.min() >= 0 and out.max() <= 1
    assert torch.allclose(d(x[:1]), out[:1], atol=1e-6)  # a face scores the same whatever its batch
    norms = (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d, torch.nn.GroupNorm)
    assert not any(isinstance(module, norms) for module in d.modules())


@pytest.mark.slow
def test_export_has_dynamic_batch_parity_and_no_instance_norm(tmp_path):
    torch.manual_seed(0)
    d = UNetDiscriminator(8).eval()
    path = tmp_path / "d.onnx"
    diff = T.export(d, path, SIZE)
    assert diff < 1e-4
    model = onnx.load(str(path))
    ops = {node.op_type for node in model.graph.node}
    assert "InstanceNormalization" not in ops and "Conv" in ops and "Sigmoid" in ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(5, 3, SIZE, SIZE) * 2 - 1
    (got,) = session.run(["map"], {"image": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, d(x).numpy(), atol=1e-5)


def test_region_masks_at_training_size_match_the_faceset(faces):
    for points, mask in zip(faces.landmarks, faces.masks, strict=True):
        assert np.array_equal(regions.face_mask(points, SIZE), mask)
