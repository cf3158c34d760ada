"""Publish a trained regressor into ``models/<name>/``: score mapping fitted on CelebA val, timings, card, README.

The mapping is fitted on the identity-disjoint CelebA validation split (never LFW): ``raw_low`` is the 5th
percentile of the ONNX model's raw output on the degraded validation copies, ``raw_high`` the 99th percentile on
the validation photos, linear between them and clipped (the convention of the ``diffiqa`` card). What is measured
is ``fiqa.train.measure``'s; the card and README are ``fiqa.train.card``'s.

    python -m fiqa publish-regressor --name diffiqa_r --run data/runs/diffiqa_r --labels diffiqa
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from fiqa.labels.sources import SOURCES
from fiqa.train.card import write_card, write_readme
from fiqa.train.measure import measure
from service.registry import Registry

REPO = Path(__file__).resolve().parents[2]


def publish(args: argparse.Namespace) -> dict:
    """Measure the run, copy its curves and weights beside its ONNX file, write facts, card and README."""
    folder = REPO / "models" / args.name
    facts = measure(args, folder / "model.onnx", Registry(REPO / "models"))
    kind = facts["backbone"]
    shutil.copy(args.run / "curves.png", folder / "training_curves.png")
    # the PyTorch weights, for parity checks
    shutil.copy(args.run / ("vitfiqa.pt" if kind == "vit" else "regressor.pt"), folder / "model.pt")
    if kind == "lrfr":
        shutil.copy(args.backbone_run / "curves.png", folder / "backbone_curves.png")
    (folder / "facts.json").write_text(json.dumps(facts, indent=1))
    write_card(args, facts, folder)
    write_readme(args, facts, folder)
    return facts


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--backbone-run", type=Path, default=Path("data/runs/backbone"))
    parser.add_argument(
        "--labels",
        choices=list(SOURCES),
        required=True,
        help="crfiqa: a ViT-FIQA run; distilled: a student of --teacher-name",
    )
    parser.add_argument("--teacher-name", default="diffiqa_r", help="the served teacher of a distilled student")
    parser.add_argument("--data", type=Path, default=Path("data/celeba_aligned"))
    parser.add_argument("--version", default="1")
    parser.add_argument("--training-command", default="", help="the training command, recorded in the card")
    parser.add_argument("--evaluation", type=Path, default=None, help="evaluation.json: LFW pAUC into the card")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    print(json.dumps(publish(args), indent=1))
    return 0
