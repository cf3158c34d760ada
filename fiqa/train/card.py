"""A published regressor's model card (``card.yaml``) and README, written from the facts its run measured.

The prose lives in ``fiqa/train/templates/``; this module chooses the parts and formats the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fiqa.evaluate.card_metrics import metrics_for
from fiqa.evaluate.mapping import card_mapping
from fiqa.evaluate.methods import model_block
from fiqa.labels.sources import SOURCES
from fiqa.models.served import PREPROCESS
from fiqa.train.regressor import INPUT, OUTPUT
from fiqa.train.templates import render
from service.registry import sha256_of

LABELLED = (
    "the 6,300 crops plus one degraded copy (blur σ and down-sampling drawn from MR-FIQA's distributions, seed 1)"
    " of 3,150 of them"
)


def description(labels: str, backbone: str, teacher: str = "") -> str:
    """The card's one-paragraph description of a run: its label source and its backbone."""
    if labels == "crfiqa":
        return render("description_crfiqa")
    return render(f"description_{labels}", backbone=render(f"backbone_{backbone}"), teacher=teacher)


SCALE_NOTES = {
    "minmax": "min-max to [0, 1] over all labelled samples",
    "rank": "trained on their rank: the empirical CDF over all labelled samples (ties averaged), uniform on [0, 1]",
}


def label_note(source: str, facts: dict) -> str:
    """What the labels are and how they were scaled, for the card's and the README's label step."""
    return f"{SOURCES[source].note}; {SCALE_NOTES[facts['label_scale']]}"


def data_note(facts: dict) -> str:
    """Where the training photos come from under which terms, and that the LFW benchmark's people are never among
    them."""
    note = "CelebA (non-commercial research terms), via `matush97/faceRecognition` @e7ba6c09"
    if any("UTKFace" in extra for extra in facts["extra_sets"]):
        note += "; UTKFace (non-commercial research terms), via `bagashvilit/facial_recognition_bias` @abe87302"
    if any("LFW" in extra for extra in facts["extra_sets"]):
        return note + "; full-LFW photos (research use) of people LFW View-2 never names, none of the benchmark's"
    return note + "; never LFW"


def cost_line(facts: dict) -> str:
    """README line: multiply-adds per face and the share of the analytic diffiqa scorer's."""
    if not facts.get("multiply_adds"):
        return ""
    own, diffiqa = facts["multiply_adds"], facts["diffiqa_multiply_adds"]
    return (
        f"\n- Cost: {own / 1e6:.1f} M multiply-adds per face (every convolution and matrix product of the ONNX "
        f"graph), 1/{diffiqa / own:.0f} "
        f"of the analytic `diffiqa` scorer's {diffiqa / 1e6:.0f} M (ten fr_feature passes)."
    )


def extras_step(facts: dict) -> str:
    """README lines for the extra training sets, if any (labelled the same way, training split only)."""
    if not facts["extra_sets"]:
        return ""
    lines = "".join(f"\n   - {note};" for note in facts["extra_sets"])
    return f"\n   Extra training sets (`--extra`, labelled the same way, all training, never validation):{lines}"


def middle_steps(args: argparse.Namespace, facts: dict) -> str:
    """README steps 2-4: labels, then the backbone and the regressor, or ViT-FIQA in one run."""
    train = facts["training"]
    run = {
        "command": args.training_command,
        "epochs": facts["training_epochs"],
        "epoch": train["epoch"],
        "steps": train["steps"],
        "minutes": f"{train['elapsed_s'] / 60:.1f}",
        "val_spearman": train["val_spearman"],
    }
    if facts["backbone"] == "vit":
        note = label_note(args.labels, facts)
        return render(
            "steps_vit", labelled=LABELLED, note=note, fr=train["fr"], fiq=train["fiq"], distill=train["distill"], **run
        )
    term = facts.get("teacher_term_weight", 0.0)
    loss = "L1 on the labels" + (f" + {term:g}·(1 − cos(embedding, fr_feature's))" if term else "")
    fourth = render("step_regressor", loss=loss, train_l1=train["train_l1"], val_l1=train["val_l1"], **run)
    distilled = args.labels == "distilled"  # a student: DifFIQA labels taught its teacher
    first = "diffiqa" if distilled else args.labels
    note = SOURCES[first].note if distilled else label_note(args.labels, facts)
    labels = render("step_labels", first=first, note=note, labelled=LABELLED, extras=extras_step(facts))
    if distilled:
        labels += render("step_teacher_labels", teacher=args.teacher_name, note=label_note(args.labels, facts))
    if facts["backbone"] in ("resampled", "imported"):
        return f"{labels}\n{render('step_backbone_' + facts['backbone'])}\n{fourth}"
    backbone = facts["backbone_training"]
    third = render(
        "step_backbone_lrfr",
        minutes=f"{backbone['elapsed_s'] / 60:.1f}",
        **{
            key: backbone[key]
            for key in ("steps", "distill", "logexp", "val_cos_teacher_hr", "val_cos_teacher_lr14", "val_cos_hr_lr14")
        },
    )
    return f"{labels}\n{third}\n{fourth}"


def write_readme(args: argparse.Namespace, facts: dict, folder: Path) -> None:
    """The human model card: what it is, how it was made, what was measured (numbers from this run), and what of
    its paper it follows (``methods-table``'s block, from the JSON reports)."""
    pre = facts["preprocess"]
    text = render(
        "readme",
        name=args.name,
        description=description(args.labels, facts["backbone"], args.teacher_name),
        input=INPUT,
        output=OUTPUT,
        channel_order=pre["channel_order"],
        mean=pre["mean"],
        scale=f"{pre['scale']:.8f}",
        raw_low=facts["raw_low"],
        raw_high=facts["raw_high"],
        middle_steps=middle_steps(args, facts),
        labels=args.labels,
        teacher=f" --teacher-name {args.teacher_name}" if args.labels == "distilled" else "",
        parity=f"{facts['parity_max_abs_diff']:.2e}",
        size_mb=f"{facts['size_bytes'] / 1e6:.2f}",
        val_photos=facts["val_photos"],
        val_degraded=facts["val_degraded"],
        spearman=facts["val_spearman_vs_labels"],
        l1=facts["val_l1_vs_labels"],
        batch1=facts["per_face_ms"]["batch1"],
        batch32=facts["per_face_ms"]["batch32"],
        cost_line=cost_line(facts),
        data_note=data_note(facts),
        paper=f"{paper}\n\n" if (paper := model_block(args.name)) else "",
    )
    (folder / "README.md").write_text(text + "\n")


def write_card(args: argparse.Namespace, facts: dict, folder: Path) -> None:
    """``models/<name>/card.yaml``: every number from this run's facts."""
    import yaml

    card = {
        "name": args.name,
        "version": args.version,
        "kind": "quality",
        "method": "regression",
        "description": description(args.labels, facts["backbone"], args.teacher_name),
        "licence": "code MIT (this project); weights trained on the photos named here, so bound by their terms; "
        f"training photos: {data_note(facts)}; labels and distillation from fr_feature (MIT)",
        "file": "model.onnx",
        "sha256": sha256_of((folder / "model.onnx").read_bytes()),
        "inputs": [{"name": INPUT, "dtype": "float32", "shape": [-1, 3, 112, 112]}],
        "outputs": [{"name": OUTPUT, "dtype": "float32", "shape": [-1, 1]}],
        "preprocess": PREPROCESS.model_dump(),
        "score_mapping": card_mapping(facts),
        "threshold": {
            "value": 50.0,
            "source": "default: mid-scale of the CelebA-val mapping, not yet calibrated against FNMR targets",
        },
        "source": {
            "recognition_model": "fr_feature",
            "training_command": args.training_command,
            "labels": label_note(args.labels, facts),
            "onnx_parity_max_abs_diff": f"{facts['parity_max_abs_diff']:.2e}",
        },
        "training_data": "CelebA subset of 299 identities / 6,300 photos (matush97/faceRecognition @e7ba6c09), "
        "CenterFace + ArcFace-aligned 112x112; identity-disjoint split, 85 % train identities"
        + "".join(f"; plus {note}" for note in facts["extra_sets"]),
        "metrics": {
            "celeba_val_spearman_vs_labels": str(facts["val_spearman_vs_labels"]),
            "per_face_ms_batch1": f"{facts['per_face_ms']['batch1']} ms (onnxruntime CPU, 1 thread)",
            "per_face_ms_batch32": f"{facts['per_face_ms']['batch32']} ms (onnxruntime CPU, 1 thread)",
            **({"multiply_adds_per_face": f"{facts['multiply_adds'] / 1e6:.1f} M"} if facts["multiply_adds"] else {}),
            **(metrics_for(json.loads(args.evaluation.read_text()), args.name) if args.evaluation else {}),
        },
    }
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False, width=118, allow_unicode=True))
