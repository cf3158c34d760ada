"""End to end on a tiny real-face set: teacher cache -> labels -> backbone -> regressor -> ONNX (parity), ViT."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from fiqa.data.celeba import CelebaIndex, Detector, read_rgb, split_identities
from fiqa.labels import diffiqa, mrfiqa
from fiqa.labels.sources import raw_labels
from fiqa.models import backbone
from fiqa.models.regressor import QualityRegressor
from fiqa.models.served import to_input
from fiqa.train import backbone as train_backbone
from fiqa.train import regressor as train_regressor
from fiqa.train import vit as train_vit
from service.align import align

# Every test here trains, computes labels over the crops or exports: each takes seconds even on its own.
pytestmark = pytest.mark.slow

PHOTOS = {"obama.jpg": 1, "obama2.jpg": 1, "obama3.jpg": 1, "biden.jpg": 2, "grace_hopper_512x512.jpg": 3}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, samples: Path) -> Path:
    """20 aligned crops of 3 identities (each photo plus 3 brightness variants), in the prepared layout."""
    out = tmp_path_factory.mktemp("aligned")
    detector = Detector()
    crops, identity, landmarks = [], [], []
    for name, person in PHOTOS.items():
        rgb = read_rgb(samples / name)
        face = detector.largest(rgb)
        crop = align(rgb, face.landmarks).crop
        for gain in (1.0, 0.8, 1.1, 0.9):
            crops.append(np.clip(crop * gain, 0, 255).astype(np.uint8))
            identity.append(person)
            landmarks.append(face.landmarks)
    count = len(crops)
    identity = np.array(identity)
    split = split_identities(identity, 0.34, seed=0)
    CelebaIndex(
        image=np.array([f"{i}.jpg" for i in range(count)]),
        identity=identity,
        landmarks=np.array(landmarks, dtype=np.float32),
        det_score=np.ones(count, np.float32),
        inter_eye=np.full(count, 40, np.float32),
        split=split,
        size=np.full((count, 2), 250, np.int32),
    ).save(out / "index.npz")
    np.save(out / "crops112.npy", np.stack(crops))
    return out


def test_labels_cover_crops_then_degraded_copies(data: Path) -> None:
    raw, label = diffiqa.labels(data)
    mr = mrfiqa.labels(data)
    assert len(raw) == len(label) == len(mr["label"]) == 20 + 10
    assert label.min() == 0.0 and label.max() == 1.0
    assert mr["label"].min() == 0.0 and mr["label"].max() == 1.0
    assert np.all(mr["s_d"][:20] == 1.0)
    # degraded copies lose embedding stability on average
    assert raw[20:].mean() < raw[:20].mean()


def test_rank_scaled_labels_keep_the_order_and_spread_it_evenly(data: Path) -> None:
    raw = raw_labels("diffiqa", data)
    minmax = train_regressor.scale_labels(raw)
    ranked = train_regressor.scale_labels(raw, "rank")
    assert np.allclose(minmax, diffiqa.labels(data)[1])  # the label module's own normalisation
    assert ranked.min() == 0.0 and ranked.max() == 1.0
    assert train_regressor.spearman(minmax, ranked) == pytest.approx(1.0)
    # evenly spread: sorted ranks step by 1 / (n - 1) (no ties among these labels)
    assert np.allclose(np.diff(np.sort(ranked)), 1 / (ranked.size - 1))
    with pytest.raises(ValueError):
        train_regressor.scale_labels(raw, "zscore")


def test_extra_sets_train_only_and_share_the_label_scale(data: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    np.save(extra / "crops112.npy", np.load(data / "crops112.npy")[:6][:, :, ::-1])  # mirrored: new samples
    parser = argparse.ArgumentParser()
    train_regressor.configure(parser)
    base = ["--data", str(data), "--label-scale", "rank"]
    crops, _, train_rows, val_rows = train_regressor.training_set(parser.parse_args(base))
    grown = train_regressor.training_set(parser.parse_args([*base, "--extra", str(extra)]))
    added = len(grown[0]) - len(crops)
    assert added == 6 + 3  # the extra crops and a degraded copy of half of them
    assert np.array_equal(grown[3], val_rows)  # validation stays CelebA's unseen identities
    assert np.array_equal(grown[2], np.concatenate([train_rows, np.arange(len(crops), len(grown[0]))]))
    # one rank scale over the union: all labels spread evenly over [0, 1]
    assert grown[1].min() == 0.0 and grown[1].max() == 1.0 and len(np.unique(grown[1])) == len(grown[1])
    with pytest.raises(ValueError, match="no identities"):
        train_regressor.training_set(parser.parse_args([*base, "--labels", "mrfiqa", "--extra", str(extra)]))

    # the teacher term covers every training sample, the extra set's too, and is logged apart from the L1
    untrained = tmp_path / "untrained.pt"
    torch.save({"preset": "mobilefacenet_xs", "state_dict": backbone("mobilefacenet_xs").state_dict()}, untrained)
    run = ["--backbone", str(untrained), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch", "4"]
    args = parser.parse_args([*base, *run, "--extra", str(extra), "--distill-weight", "1"])
    train_regressor.train(args)
    epoch = json.loads((tmp_path / "run" / "history.json").read_text())["epochs"][0]
    assert 0.0 < epoch["distill"] <= 2.0 and 0.0 < epoch["train_l1"] < 1.0


def test_measure_sets_are_held_out_and_reported_before_and_after(data: Path, tmp_path: Path) -> None:
    held_out = tmp_path / "held_out"
    held_out.mkdir()
    np.save(held_out / "crops112.npy", np.load(data / "crops112.npy")[:6][:, ::-1])  # upside down: new samples
    untrained = tmp_path / "untrained.pt"
    torch.save({"preset": "mobilefacenet_xs", "state_dict": backbone("mobilefacenet_xs").state_dict()}, untrained)
    parser = argparse.ArgumentParser()
    train_regressor.configure(parser)
    run = [
        "--data",
        str(data),
        "--backbone",
        str(untrained),
        "--epochs",
        "1",
        "--batch",
        "4",
        "--measure",
        str(held_out),
    ]
    with pytest.raises(ValueError, match="held out"):
        train_regressor.train(parser.parse_args([*run, "--extra", str(held_out), "--out", str(tmp_path / "bad")]))
    train_regressor.train(parser.parse_args([*run, "--out", str(tmp_path / "run")]))
    measured = json.loads((tmp_path / "run" / "measured.json").read_text())
    assert set(measured) == {"start", "kept"} and set(measured["kept"]) == {"val", str(held_out)}
    assert all(-1.0 <= value <= 1.0 for figures in measured.values() for value in figures.values())


def test_distilled_labels_cover_extra_sets_and_need_their_teacher(data: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher.pt"
    model = QualityRegressor(backbone("mobilefacenet_xs"))
    torch.save({"preset": "mobilefacenet_xs", "state_dict": model.state_dict()}, teacher)
    extra = tmp_path / "extra"
    extra.mkdir()
    np.save(extra / "crops112.npy", np.load(data / "crops112.npy")[:4])
    parser = argparse.ArgumentParser()
    train_regressor.configure(parser)
    base = ["--data", str(data), "--labels", "distilled", "--extra", str(extra), "--label-scale", "rank"]
    scaled = train_regressor.training_labels(parser.parse_args([*base, "--label-model", str(teacher)]))
    assert len(scaled) == 30 + 4 + 2 and scaled.min() == 0.0 and scaled.max() == 1.0
    with pytest.raises(ValueError, match="--label-model"):
        train_regressor.training_labels(parser.parse_args(base))


def test_freeze_bn_keeps_an_imported_backbones_statistics(data: Path, tmp_path: Path) -> None:
    """A BN-folded import (import-teacher) has identity BatchNorms: batch statistics would rewrite the network."""
    start = backbone("mobilefacenet_xs")
    torch.save({"preset": "mobilefacenet_xs", "state_dict": start.state_dict()}, tmp_path / "start.pt")
    parser = argparse.ArgumentParser()
    train_regressor.configure(parser)
    run = ["--data", str(data), "--backbone", str(tmp_path / "start.pt"), "--epochs", "1", "--batch", "4"]
    stats = {}
    for frozen in (True, False):
        out = tmp_path / f"frozen-{frozen}"
        train_regressor.train(parser.parse_args([*run, "--out", str(out), *(["--freeze-bn"] if frozen else [])]))
        state = torch.load(out / "regressor.pt", weights_only=True)["state_dict"]
        stats[frozen] = {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}
    initial = start.state_dict()
    assert stats[True] and all(torch.equal(v, initial[k.removeprefix("backbone.")]) for k, v in stats[True].items())
    assert any(not torch.equal(v, initial[k.removeprefix("backbone.")]) for k, v in stats[False].items())


def test_backbone_regressor_export_and_vit(data: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    train_backbone.configure(parser)
    args = parser.parse_args(["--data", str(data), "--out", str(tmp_path / "bb"), "--epochs", "1", "--batch", "4"])
    checkpoint = train_backbone.train(args)
    history = json.loads((tmp_path / "bb" / "history.json").read_text())["epochs"]
    assert history[0]["steps"] > 0 and np.isfinite(history[0]["distill"]) and history[0]["logexp"] >= 0

    parser = argparse.ArgumentParser()
    train_regressor.configure(parser)
    onnx_path = tmp_path / "model.onnx"
    args = parser.parse_args(
        [
            "--data",
            str(data),
            "--backbone",
            str(checkpoint),
            "--out",
            str(tmp_path / "reg"),
            "--epochs",
            "1",
            "--batch",
            "4",
            "--onnx",
            str(onnx_path),
        ]
    )
    model = train_regressor.train(args).eval()
    report = json.loads((tmp_path / "reg" / "export.json").read_text())
    assert report["max_abs_diff"] <= 1e-4
    faces = np.load(data / "crops112.npy")[:5]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(["quality"], {"input": to_input(faces).contiguous().numpy()})[0]
    with torch.no_grad():
        want = model(to_input(faces).contiguous()).numpy()
    assert got.shape == (5, 1) and np.abs(got - want).max() <= 1e-4

    parser = argparse.ArgumentParser()
    train_vit.configure(parser)
    vit_run = ["--data", str(data), "--out", str(tmp_path / "vit"), "--epochs", "1", "--batch", "4"]
    train_vit.train(parser.parse_args([*vit_run, "--distill-weight", "1"]))
    vit_history = json.loads((tmp_path / "vit" / "history.json").read_text())["epochs"]
    assert vit_history[0]["fr"] > 0 and np.isfinite(vit_history[0]["cr"]) and np.isfinite(vit_history[0]["fiq"])
    assert 0.0 < vit_history[0]["distill"] <= 2.0
    # CR-FIQA's offline ratio from the teacher as the quality token's target: validated against it
    train_vit.train(parser.parse_args([*vit_run, "--cr-source", "teacher"]))
    vit_history = json.loads((tmp_path / "vit" / "history.json").read_text())["epochs"]
    assert 0.0 <= vit_history[0]["cr"] <= 1.0 and -1.0 <= vit_history[0]["val_spearman"] <= 1.0
    assert (tmp_path / "vit" / "vitfiqa.pt").exists()


def test_init_carries_a_trained_regressor_onto_the_64_pixel_preset(data: Path, tmp_path: Path) -> None:
    """--init: every weight carries over as is but the final pooling, resampled to the 4x4 map; then it trains
    and exports like any regressor (the resampling inside the graph included)."""
    start = QualityRegressor(backbone("mobilefacenet"))
    torch.save({"preset": "mobilefacenet", "state_dict": start.state_dict()}, tmp_path / "start.pt")
    carried = train_regressor.carried_over("mobilefacenet_r64", tmp_path / "start.pt").state_dict()
    for key, value in start.state_dict().items():
        if key == "backbone.gdconv.0.weight":
            assert carried[key].shape[-2:] == (4, 4)
            assert torch.allclose(carried[key].sum(dim=(2, 3)), value.sum(dim=(2, 3)), atol=1e-5)
        else:
            assert torch.equal(carried[key], value), key

    parser = argparse.ArgumentParser()
    train_regressor.configure(parser)
    run = ["--data", str(data), "--preset", "mobilefacenet_r64", "--init", str(tmp_path / "start.pt")]
    run += ["--out", str(tmp_path / "r64"), "--epochs", "1", "--batch", "4", "--onnx", str(tmp_path / "r64.onnx")]
    train_regressor.train(parser.parse_args(run))
    assert json.loads((tmp_path / "r64" / "export.json").read_text())["max_abs_diff"] <= 1e-4
    assert torch.load(tmp_path / "r64" / "regressor.pt", weights_only=True)["preset"] == "mobilefacenet_r64"
