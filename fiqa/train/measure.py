"""What publishing a trained regressor measures: its ONNX file's raw output on CelebA val (the score mapping and
the agreement with the labels), its time per face, its cost, and what its run recorded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from fiqa.data.celeba import CelebaIndex
from fiqa.data.degrade import degraded_set, labelled_set
from fiqa.evaluate.cost import diffiqa_multiply_adds, onnx_multiply_adds
from fiqa.evaluate.mapping import fit
from fiqa.labels.sources import SOURCES
from fiqa.models.served import PREPROCESS, to_input
from fiqa.train.regressor import INPUT, OUTPUT, spearman, training_labels
from fiqa.train.templates import render
from service.registry import Registry


def extra_note(path: Path) -> str:
    """What one ``--extra`` training set holds, for the card (the layout says which command made it)."""
    count = len(np.load(path / "crops112.npy", mmap_mode="r"))
    copies = len(degraded_set(path)[0])
    if (path / "variants.npz").exists():
        with np.load(path / "variants.npz") as variants:
            names = variants["names"].tolist() if "names" in variants else []
            share = np.median(variants["strength"]) if "strength" in variants else float("nan")
        if names == ["out_of_frame"]:
            return render("extra_out_of_frame", count=count, share=f"{share:.0%}", copies=copies)
        return render("extra_variants", count=count, copies=copies)
    with np.load(path / "index.npz") as index:
        if "out_of_frame" in index:
            share = f"{np.median(index['out_of_frame']):.0%}"
            return render("extra_utkface", count=count, share=share, copies=copies)
        people = len({str(name).split("/")[0] for name in index["image"]})
    return render("extra_lfw", count=count, people=people, copies=copies)


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads (one, for a per-face time a host can repeat)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(model: ort.InferenceSession, crops: np.ndarray, batch: int = 128) -> np.ndarray:
    """The ONNX file's raw (N,) output on uint8 crops, ``batch`` at a time: what the gateway serves."""
    return np.concatenate(
        [
            model.run([OUTPUT], {INPUT: to_input(crops[s : s + batch]).contiguous().numpy()})[0][:, 0]
            for s in range(0, len(crops), batch)
        ]
    )


def per_face_ms(model: ort.InferenceSession, crops: np.ndarray, batch: int, repeats: int = 20) -> float:
    """Median wall time per face of one ``batch``-sized run (input already normalised)."""
    tensor = to_input(np.resize(crops, (batch, *crops.shape[1:]))).contiguous().numpy()
    model.run([OUTPUT], {INPUT: tensor})
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.run([OUTPUT], {INPUT: tensor})
        times.append(time.perf_counter() - start)
    return float(np.median(times) / batch * 1000)


def backbone_kind(labels: str, config: dict) -> str:
    """``vit`` (ViT-FIQA, its own recognition branch), ``resampled`` (a trained regressor carried onto a
    lower-resolution preset, ``--init``), ``imported`` (the backbone checkpoint is import-teacher's
    copy of a served recognition network) or ``lrfr`` (our distilled resolution-robust backbone)."""
    if not SOURCES[labels].regressor:
        return "vit"
    if config.get("init") not in (None, "None"):
        return "resampled"
    checkpoint = torch.load(config["backbone"], map_location="cpu", weights_only=True)
    return "imported" if "source" in checkpoint else "lrfr"


def measure(args: argparse.Namespace, onnx_path: Path, registry: Registry) -> dict:
    """The facts of a published run (``facts.json``): everything its card and README state."""
    index = CelebaIndex.load(args.data / "index.npz")
    crops, source, degraded = labelled_set(args.data)
    val = index.split[source] == "val"
    model = session(onnx_path)
    raw = run(model, crops[val])
    history = json.loads((args.run / "history.json").read_text())
    config = history["config"]
    scaled = training_labels(
        argparse.Namespace(
            data=args.data,
            labels=args.labels,
            label_scale=config.get("label_scale", "minmax"),
            extra=[Path(path) for path in config.get("extra", [])],
            label_model=None if config.get("label_model") in (None, "None") else Path(config["label_model"]),
        )
    )
    labels = scaled[: len(crops)][val]  # the run's own scale (over its extra sets too); CelebA rows come first
    plain_raw, degraded_raw = raw[~degraded[val]], raw[degraded[val]]
    low, high = fit(plain_raw, degraded_raw)
    timings = {f"batch{b}": round(per_face_ms(model, crops[:32], b), 3) for b in (1, 32)}
    export = json.loads((args.run / "export.json").read_text())
    kind = backbone_kind(args.labels, config)
    backbone_history = json.loads((args.backbone_run / "history.json").read_text()) if kind == "lrfr" else None
    facts = {
        "backbone": kind,
        "teacher_term_weight": float(config.get("distill_weight", 0.0)),
        "label_scale": config.get("label_scale", "minmax"),
        "extra_sets": [extra_note(Path(path)) for path in config.get("extra", [])],
        "val_spearman_vs_labels": round(spearman(raw, labels), 4),
        "val_l1_vs_labels": round(float(np.abs(raw - labels).mean()), 4),
        "val_photos": int((~degraded[val]).sum()),
        "val_degraded": int(degraded[val].sum()),
        "raw_low": low,
        "raw_high": high,
        "per_face_ms": timings,
        "parity_max_abs_diff": export["max_abs_diff"],
        # the checkpoint the run kept: its best validation epoch
        "training": max(history["epochs"], key=lambda e: e["val_spearman"]),
        "training_epochs": len(history["epochs"]),
        "backbone_training": backbone_history["epochs"][-1] if backbone_history else None,
        "size_bytes": onnx_path.stat().st_size,
        "preprocess": PREPROCESS.model_dump(),
        # hardware-independent cost, beside the analytic scorer's
        "multiply_adds": onnx_multiply_adds(onnx_path),
        "diffiqa_multiply_adds": diffiqa_multiply_adds(registry),
    }
    return facts
