"""``python -m fiqa <command> ...``: a small dispatcher; each command lives in its own module, imported on use.

A command module provides ``configure(parser)`` (its arguments) and ``main(args) -> int``. Add a command by adding
one line to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "evaluate": ("fiqa.evaluate.run", "EDC / pAUC evaluation of every quality model and baseline"),
    "readme-summary": ("fiqa.evaluate.summary", "write the README's evaluation tables from the reports"),
    "card-metrics": ("fiqa.evaluate.card_metrics", "write every quality card's evaluation figures from the report"),
    "methods-table": ("fiqa.evaluate.methods", "write the report's methods-as-published table from the JSON reports"),
    "detector-validity": ("fiqa.evaluate.detector_path", "the default model on LFW: served detector path vs full"),
    "select-default": ("fiqa.evaluate.select", "apply the default-model rule to the validation report"),
    "lfw-accuracy": ("fiqa.evaluate.lfw_accuracy", "LFW View-2 10-fold accuracy of face-recognition cards"),
    "measures-validate": ("fiqa.evaluate.measures", "component measures on their labels and controlled transforms"),
    "frontal-mesh": ("fiqa.train.frontal_mesh", "FaceMesh's frontal template for the head-pose measures"),
    "fit-mapping": ("fiqa.evaluate.mapping", "fit a quality card's raw -> 0..100 mapping on CelebA val"),
    "calibrate": ("fiqa.evaluate.calibrate", "calibrate a quality model's decision threshold into its card"),
    "prepare-celeba": ("fiqa.data.celeba", "detect, align and split the CelebA training subset"),
    "prepare-lfw-extra": ("fiqa.data.lfw_extra", "align full-LFW photos of people the View-2 benchmark never names"),
    "prepare-utkface": ("fiqa.data.utkface", "align UTKFace tight crops (identity-free, padded) for DifFIQA labels"),
    "make-variants": ("fiqa.data.variants", "capture-condition variants (light, noise, JPEG...) of training crops"),
    "label-diffiqa": ("fiqa.labels.diffiqa", "analytic DifFIQA labels of the aligned training crops"),
    "train-ddpm": ("fiqa.diffusion.train", "train DifFIQA's denoising diffusion model (U-Net, 64x64 faces)"),
    "compare-diffiqa": ("fiqa.diffusion.compare", "DifFIQA with its DDPM vs the served diffiqa, on validation"),
    "label-mrfiqa": ("fiqa.labels.mrfiqa", "MR-FIQA labels of the aligned training crops"),
    "import-teacher": ("fiqa.models.onnx_weights", "the fr_feature teacher as a fine-tunable PyTorch backbone"),
    "train-backbone": ("fiqa.train.backbone", "distil the resolution-robust MobileFaceNet backbone"),
    "train-regressor": ("fiqa.train.regressor", "fine-tune a single-pass quality regressor and export ONNX"),
    "publish-regressor": ("fiqa.train.publish", "fit a trained regressor's score mapping on CelebA val, time it"),
    "train-vitfiqa": ("fiqa.train.vit", "train ViT-FIQA (quality token on the certainty ratio) and export ONNX"),
    "ifqa-train": ("fiqa.ifqa.train", "train IFQA's generator and per-pixel discriminator; export D as ONNX"),
    "ifqa-evaluate": ("fiqa.ifqa.evaluate", "IFQA maps on damaged LFW regions; fit its score mapping on CelebA val"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m fiqa", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == wanted:  # only the chosen command's module is imported (some pull heavy dependencies)
            importlib.import_module(module).configure(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(importlib.import_module(COMMANDS[args.command][0]).main(args))


if __name__ == "__main__":
    raise SystemExit(main())
