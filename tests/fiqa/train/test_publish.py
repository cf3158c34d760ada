"""The model card's evaluation figures come from the evaluation report, per recognition model."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch

from fiqa.evaluate.cost import diffiqa_multiply_adds
from fiqa.train.card import cost_line, data_note, description, extras_step, middle_steps
from fiqa.train.measure import backbone_kind, extra_note
from fiqa.train.templates import render
from service.registry import Registry

REPO = Path(__file__).resolve().parents[3]


def test_cards_name_each_extra_training_set_and_whether_lfw_photos_were_used(tmp_path: Path) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    lfw, variants = tmp_path / "lfw", tmp_path / "variants"
    for folder in (lfw, variants):
        folder.mkdir()
        np.save(folder / "crops112.npy", crops)
    np.savez(lfw / "index.npz", image=np.array(["Dan_D/Dan_D_0001.jpg", "Dan_D/Dan_D_0002.jpg", "Eve_E/a.jpg", "F/b"]))
    np.savez(variants / "variants.npz", condition=np.zeros(4))
    notes = [extra_note(lfw), extra_note(variants)]
    assert notes[0].startswith("4 full-LFW photos of 3 people") and "2 degraded copies" in notes[0]
    assert notes[1].startswith("4 capture-condition variants") and "2 degraded copies" in notes[1]
    assert data_note({"extra_sets": notes}).endswith("none of the benchmark's")
    assert data_note({"extra_sets": notes[1:]}).endswith("never LFW")
    assert extras_step({"extra_sets": []}) == ""
    assert all(note in extras_step({"extra_sets": notes}) for note in notes)


def test_cards_name_utkface_and_out_of_frame_sets_and_carry_utkfaces_terms(tmp_path: Path) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    utkface, padded = tmp_path / "utkface", tmp_path / "padded"
    for folder in (utkface, padded):
        folder.mkdir()
        np.save(folder / "crops112.npy", crops)
    names = np.array([f"{age}_0_1_2017.jpg.chip.jpg" for age in (3, 30, 60, 90)])
    np.savez(utkface / "index.npz", image=names, out_of_frame=np.array([0.3, 0.34, 0.36, 0.4]))
    np.savez(padded / "variants.npz", condition=np.zeros(4), strength=np.full(4, 0.3), names=("out_of_frame",))
    notes = [extra_note(utkface), extra_note(padded)]
    assert notes[0].startswith("4 UTKFace photos") and "median out-of-frame share 35%" in notes[0]
    assert notes[1].startswith("4 out-of-frame variants") and "2 degraded copies" in notes[1]
    note = data_note({"extra_sets": notes})
    assert "UTKFace (non-commercial research terms)" in note and note.endswith("never LFW")
    assert "UTKFace" not in data_note({"extra_sets": notes[1:]})


def test_readme_training_steps_follow_the_kind_of_run() -> None:
    common = {"label_scale": "rank", "extra_sets": [], "training_epochs": 3}
    epoch = {"epoch": 2, "steps": 10, "elapsed_s": 60.0, "val_spearman": 0.5}
    vit = middle_steps(
        Namespace(labels="crfiqa", training_command="python -m fiqa train-vitfiqa"),
        {
            **common,
            "backbone": "vit",
            "backbone_training": None,
            "training": {**epoch, "fr": 1.0, "fiq": 0.03, "distill": 0.9},
        },
    )
    assert "no separate backbone" in vit and "L_FR 1.0" in vit and "certainty ratio" in vit
    regressor_backbone = {
        "steps": 5,
        "elapsed_s": 60.0,
        "distill": 0.4,
        "logexp": 0.1,
        "val_cos_teacher_hr": 0.2,
        "val_cos_teacher_lr14": 0.1,
        "val_cos_hr_lr14": 0.8,
    }
    regressor = middle_steps(
        Namespace(labels="diffiqa", training_command="python -m fiqa train-regressor"),
        {
            **common,
            "backbone": "lrfr",
            "backbone_training": regressor_backbone,
            "training": {**epoch, "train_l1": 0.1, "val_l1": 0.12},
        },
    )
    assert "train-backbone" in regressor and "val L1 0.12" in regressor and "DifFIQA labels" in regressor

    train = {**epoch, "train_l1": 0.1, "val_l1": 0.12}
    teacher = middle_steps(
        Namespace(labels="diffiqa", training_command="python -m fiqa train-regressor --freeze-bn"),
        {**common, "backbone": "imported", "backbone_training": None, "training": train, "teacher_term_weight": 0.5},
    )
    assert "import-teacher" in teacher and "train-backbone" not in teacher
    assert "0.5·(1 − cos(embedding, fr_feature's))" in teacher
    student = middle_steps(
        Namespace(labels="distilled", teacher_name="big_r", training_command="python -m fiqa train-regressor"),
        {**common, "backbone": "lrfr", "backbone_training": regressor_backbone, "training": train},
    )
    assert "label-diffiqa" in student and "teacher `big_r`" in student and "mirror" in student
    assert "train-backbone" in student and "cos(" not in student
    resampled = middle_steps(
        Namespace(labels="distilled", teacher_name="big_r", training_command="python -m fiqa train-regressor --init"),
        {**common, "backbone": "resampled", "backbone_training": None, "training": train, "teacher_term_weight": 0.5},
    )
    assert "teacher `big_r`" in resampled and "--init" in resampled and "train-backbone" not in resampled


def test_descriptions_name_the_backbone_and_the_teacher() -> None:
    assert "import-teacher" in description("diffiqa", "imported")
    assert "LogExp" in description("diffiqa", "lrfr") and "LogExp" in description("mrfiqa", "lrfr")
    assert "`big_r`" in description("distilled", "lrfr", "big_r")
    assert "quality token" in description("crfiqa", "vit")
    assert "64x64" in description("distilled", "resampled", "big_r")


def test_backbone_kind_reads_the_runs_backbone_checkpoint(tmp_path: Path) -> None:
    torch.save({"preset": "mobilefacenet", "state_dict": {}, "source": "fr_feature"}, tmp_path / "imported.pt")
    torch.save({"preset": "mobilefacenet_xs", "state_dict": {}}, tmp_path / "lrfr.pt")
    assert backbone_kind("diffiqa", {"backbone": str(tmp_path / "imported.pt")}) == "imported"
    assert backbone_kind("distilled", {"backbone": str(tmp_path / "lrfr.pt")}) == "lrfr"
    assert backbone_kind("crfiqa", {}) == "vit"
    assert backbone_kind("distilled", {"backbone": "absent.pt", "init": str(tmp_path / "imported.pt")}) == "resampled"
    assert backbone_kind("diffiqa", {"backbone": str(tmp_path / "lrfr.pt"), "init": "None"}) == "lrfr"


def test_cost_line_compares_with_ten_recognition_passes() -> None:
    diffiqa = diffiqa_multiply_adds(Registry(REPO / "models"))
    assert diffiqa == pytest.approx(10 * 221.16e6, rel=1e-3)  # default n = 4: 2 + 2n passes of the paper network
    line = cost_line({"multiply_adds": diffiqa // 30, "diffiqa_multiply_adds": diffiqa})
    assert "73.7 M multiply-adds" in line and "1/30 " in line and "2212 M" in line
    assert cost_line({"multiply_adds": None, "diffiqa_multiply_adds": diffiqa}) == ""


def test_a_template_refuses_a_missing_figure() -> None:
    """A renamed or forgotten figure fails loudly instead of leaving ``$name`` in a published README."""
    with pytest.raises(KeyError, match="first"):
        render("step_labels", note="n", labelled="l", extras="")
