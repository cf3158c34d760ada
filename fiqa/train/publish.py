"""Publish a trained regressor into ``models/<name>/``: score mapping fitted on CelebA val, timings, card, README.

The mapping is fitted on the identity-disjoint CelebA validation split (never LFW): ``raw_low`` is the 5th
percentile of the ONNX model's raw output on the degraded validation copies, ``raw_high`` the 99th percentile on
the validation photos, linear between them and clipped (the convention of the ``diffiqa`` card).

    python -m fiqa publish-regressor --name diffiqa_r --run data/runs/diffiqa_r --labels diffiqa
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from fiqa.data.celeba import CelebaIndex
from fiqa.data.degrade import degraded_set, labelled_set
from fiqa.evaluate.card_metrics import metrics_for
from fiqa.evaluate.cost import diffiqa_multiply_adds, onnx_multiply_adds
from fiqa.labels.sources import SOURCES
from fiqa.models.served import PREPROCESS, to_input
from fiqa.train.regressor import INPUT, OUTPUT, spearman, training_labels
from service.registry import Registry, sha256_of

REPO = Path(__file__).resolve().parents[2]

BACKBONES = {
    "lrfr": "MobileFaceNet-XS (quarter width) distilled from fr_feature with the LRFR seed's multi-resolution "
    "augmentation (7/14/20 px, 1:1:2) and LogExp HR/LR feature loss",
    "imported": "fr_feature itself, the labelling recognition network (DifFIQA(R) starts from its FR model): its "
    "BN-folded ONNX weights read into our paper-size MobileFaceNet (`python -m fiqa import-teacher`), BatchNorm "
    "statistics frozen while fine-tuning",
    "resampled": "the teacher's own network and weights (fr_feature's MobileFaceNet and its head, `--init`), "
    "reading its 112x112 input resampled to 64x64 inside the graph (antialiased bilinear; the 7x7 global depthwise "
    "pooling area-resampled to the 4x4 map, `--preset mobilefacenet_r64`) and fine-tuned at that resolution, "
    "BatchNorm frozen: a third of the teacher's multiply-adds",
}


def description(labels: str, backbone: str, teacher: str = "") -> str:
    """The card's one-paragraph description of a run: its label source and its backbone."""
    if labels == "crfiqa":
        return (
            "ViT-FIQA: a ViT (patch 16, dim 96, depth 4, 3 heads: the CPU preset vit_tiny) with a learnable quality "
            "token concatenated to the patch tokens; patch tokens -> FC -> 512-D embedding trained with CosFace "
            "(s=48, m=0.4) on the CelebA training identities and pulled towards fr_feature's embedding; quality token "
            "-> linear head regressing the certainty ratio (here CR-FIQA's offline ratio from fr_feature, "
            "rank-scaled, since a ViT trained on a few thousand photos on a CPU is too weak a recognition model to "
            "define its own). Served graph: the quality-token output only. Output: raw quality, about 0 (worst) .. 1 "
            "(best)."
        )
    if labels == "mrfiqa":
        return (
            f"MR-FIQA regressor: backbone {BACKBONES[backbone]}; head: MLP 512-128-1; fine-tuned with L1 on MR-FIQA "
            "labels Q = minmax[(f_r + 0.5 s_d) / (1 - v_l)] of CelebA crops and degraded copies: f_r = cosine "
            "(fr_feature) to the identity's leave-one-out mean embedding, s_d = minimal rank over blur / "
            "down-sampling intensity, v_l = 0 (no BLIP offline). Pose is not synthesised; it enters only through f_r."
        )
    if labels == "distilled":
        return (
            f"DifFIQA(R), distilled student: one cheap pass that learned the predictions of `{teacher}` (the "
            f"DifFIQA(R) regressor on the full fr_feature network). Backbone: {BACKBONES[backbone]}; head: MLP "
            "512-128-1; fine-tuned with L1 on "
            "the teacher's predictions. Output: raw quality, about 0 (worst label) .. 1 (best label)."
        )
    return (
        "DifFIQA(R): single-pass regression distilled from the analytic DifFIQA scorer (the `diffiqa` card). "
        f"Backbone: {BACKBONES[backbone]}; head: MLP 512-128-1; fine-tuned with L1 on DifFIQA labels (normalised to "
        "[0, 1], see labels) of CelebA crops and of degraded copies of half of them. Output: raw quality, about 0 "
        "(worst label) .. 1 (best label)."
    )


SCALE_NOTES = {
    "minmax": "min-max to [0, 1] over all labelled samples",
    "rank": "trained on their rank: the empirical CDF over all labelled samples (ties averaged), uniform on [0, 1]",
}


def label_note(source: str, facts: dict) -> str:
    return f"{SOURCES[source].note}; {SCALE_NOTES[facts['label_scale']]}"


def extra_note(path: Path) -> str:
    """What one ``--extra`` training set holds, for the card (the layout says which command made it)."""
    count = len(np.load(path / "crops112.npy", mmap_mode="r"))
    copies = len(degraded_set(path)[0])
    if (path / "variants.npz").exists():
        with np.load(path / "variants.npz") as variants:
            names = variants["names"].tolist() if "names" in variants else []
            share = np.median(variants["strength"]) if "strength" in variants else float("nan")
        if names == ["out_of_frame"]:
            return (
                f"{count} out-of-frame variants of CelebA training-split crops (black beyond a photo edge or a "
                f"corner over 5-60 % of the crop, median {share:.0%}, labelled on the padded crop; `python -m fiqa "
                f"make-variants --kind out-of-frame`) and {copies} degraded copies"
            )
        return (
            f"{count} capture-condition variants of the CelebA training-split crops (light, noise, JPEG, motion, "
            f"occlusion, compound; `python -m fiqa make-variants`) and {copies} degraded copies"
        )
    with np.load(path / "index.npz") as index:
        if "out_of_frame" in index:
            return (
                f"{count} UTKFace photos (tight 200x200 crops, no identities; aligned with black padding, median "
                f"out-of-frame share {np.median(index['out_of_frame']):.0%}; bagashvilit/facial_recognition_bias "
                f"@abe87302; `python -m fiqa prepare-utkface`) and {copies} degraded copies"
            )
        people = len({str(name).split("/")[0] for name in index["image"]})
    return (
        f"{count} full-LFW photos of {people} people that LFW View-2's pairs.txt never names (braun-steven/"
        f"dfi-tensorflow @0a86d9a; `python -m fiqa prepare-lfw-extra`) and {copies} degraded copies"
    )


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(model: ort.InferenceSession, crops: np.ndarray, batch: int = 128) -> np.ndarray:
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


def publish(args: argparse.Namespace) -> dict:
    onnx_path = REPO / "models" / args.name / "model.onnx"
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
    low, high = float(np.percentile(degraded_raw, 5)), float(np.percentile(plain_raw, 99))
    timings = {f"batch{b}": round(per_face_ms(model, crops[:32], b), 3) for b in (1, 32)}
    export = json.loads((args.run / "export.json").read_text())
    kind = backbone_kind(args.labels, config)
    vit = kind == "vit"
    checkpoint = args.run / ("vitfiqa.pt" if vit else "regressor.pt")
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
        "raw_low": round(low, 4),
        "raw_high": round(high, 4),
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
        "diffiqa_multiply_adds": diffiqa_multiply_adds(Registry(REPO / "models")),
    }
    folder = onnx_path.parent
    shutil.copy(args.run / "curves.png", folder / "training_curves.png")
    # the PyTorch weights, for parity checks
    shutil.copy(checkpoint, folder / "model.pt")
    if kind == "lrfr":
        shutil.copy(args.backbone_run / "curves.png", folder / "backbone_curves.png")
    (folder / "facts.json").write_text(json.dumps(facts, indent=1))
    write_card(args, facts)
    write_readme(args, facts)
    return facts


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


def extras_step(facts: dict) -> str:
    """README lines for the extra training sets, if any (labelled the same way, training split only)."""
    if not facts["extra_sets"]:
        return ""
    lines = "".join(f"\n   - {note};" for note in facts["extra_sets"])
    return f"\n   Extra training sets (`--extra`, labelled the same way, all training, never validation):{lines}"


def data_note(facts: dict) -> str:
    """Where the training photos come from under which terms, and that the LFW benchmark's people are never among
    them."""
    note = "CelebA (non-commercial research terms), via `matush97/faceRecognition` @e7ba6c09"
    if any("UTKFace" in extra for extra in facts["extra_sets"]):
        note += "; UTKFace (non-commercial research terms), via `bagashvilit/facial_recognition_bias` @abe87302"
    if any("LFW" in extra for extra in facts["extra_sets"]):
        return note + "; full-LFW photos (research use) of people LFW View-2 never names, none of the benchmark's"
    return note + "; never LFW"


def middle_steps(args: argparse.Namespace, facts: dict) -> str:
    """README steps 2-4: labels, then the backbone and the regressor, or ViT-FIQA in one run."""
    train = facts["training"]
    labelled = (
        "the 6,300 crops plus one degraded copy (blur σ and down-sampling drawn from MR-FIQA's distributions, seed 1)"
        " of 3,150 of them"
    )
    if facts["backbone"] == "vit":
        return f"""2. `python -m fiqa label-diffiqa --data data/celeba_aligned` caches fr_feature's embeddings of the
   labelled set ({labelled}) — {label_note(args.labels, facts)}.
3. (no separate backbone: ViT-FIQA trains its recognition branch and its quality token together)
4. `{args.training_command}` — L_FR (CosFace s=48, m=0.4, on the patch-token embedding) + smooth-L1 of the quality
   token against the labels + 1 − cos(embedding, fr_feature's); AdamW, cosine schedule driven by steps or time budget;
   {facts["training_epochs"]} epochs; kept epoch {train["epoch"]} (best validation Spearman), reached after
   {train["steps"]} steps ({train["elapsed_s"] / 60:.1f} min): L_FR {train["fr"]}, quality loss {train["fiq"]},
   teacher term {train["distill"]}, val Spearman {train["val_spearman"]}. ![training curves](training_curves.png)"""
    term = facts.get("teacher_term_weight", 0.0)
    loss = "L1 on the labels" + (f" + {term:g}·(1 − cos(embedding, fr_feature's))" if term else "")
    fourth = f"""4. `{args.training_command}` — {loss}, AdamW, cosine schedule driven by steps or time budget;
   {facts["training_epochs"]} epochs; kept epoch {train["epoch"]} (best validation Spearman), reached after
   {train["steps"]} steps ({train["elapsed_s"] / 60:.1f} min): train L1 {train["train_l1"]}, val L1 {train["val_l1"]},
   val Spearman {train["val_spearman"]}. ![training curves](training_curves.png)"""
    distilled = args.labels == "distilled"  # a student: DifFIQA labels taught its teacher
    first = "diffiqa" if distilled else args.labels
    note = SOURCES[first].note if distilled else label_note(args.labels, facts)
    labels = f"""2. `python -m fiqa label-{first} --data data/celeba_aligned` — {note}.
   Labelled set: {labelled}.{extras_step(facts)}"""
    if distilled:
        labels += f"""
   The teacher `{args.teacher_name}` (its README's steps) then labels the same sets: {label_note(args.labels, facts)}
   (computed and cached by the training command)."""
    if facts["backbone"] == "resampled":
        return f"""{labels}
3. (no separate backbone: `--init` starts from the teacher's own checkpoint, its README's steps 3-4, and
   `carried_over` resamples its final pooling to the 64-pixel preset)
{fourth}"""
    if facts["backbone"] == "imported":
        return f"""{labels}
3. `python -m fiqa import-teacher` — fr_feature's BN-folded ONNX graph read into our MobileFaceNet (the input change to
   RGB, (x − 127.5)/127.5 folded into the stem; cosine > 0.99999 to the ONNX network on real faces).
{fourth}"""
    backbone = facts["backbone_training"]
    return f"""{labels}
3. `python -m fiqa train-backbone --preset mobilefacenet_xs --epochs 6 --threads 2 --max-minutes 25` — distillation
   from fr_feature: ½·‖ê(HR) − t‖² + ½·‖ê(LR) − t‖² + 1·LogExp(ê(HR), ê(LR)), p = 1, LR = 7/14/20 px (1:1:2).
   Stopped by its time budget after {backbone["steps"]} steps ({backbone["elapsed_s"] / 60:.1f} min): distillation
   loss {backbone["distill"]}, LogExp {backbone["logexp"]}; validation cosine to the teacher
   {backbone["val_cos_teacher_hr"]} (HR) / {backbone["val_cos_teacher_lr14"]} (14 px), HR-vs-14 px cosine
   {backbone["val_cos_hr_lr14"]}.
   ![backbone curves](backbone_curves.png)
{fourth}"""


def write_readme(args: argparse.Namespace, facts: dict) -> None:
    """The human model card: what it is, how it was made, what was measured (numbers from this run)."""
    pre = facts["preprocess"]
    teacher = f" --teacher-name {args.teacher_name}" if args.labels == "distilled" else ""
    text = f"""# {args.name}

{description(args.labels, facts["backbone"], args.teacher_name)}

## Use
Served by the gateway as quality method `{args.name}` (`method: regression`, one ONNX pass per face):
`options.models=["{args.name}"]`. Input `{INPUT}` (N, 3, 112, 112) float32, ArcFace-aligned 112x112 crop,
channel order **{pre["channel_order"]}**, `(pixel - {pre["mean"]}) * {pre["scale"]:.8f}`, NCHW; output `{OUTPUT}`
(N, 1) raw quality (higher is better). Raw -> 0..100: linear from raw {facts["raw_low"]} (0) to {facts["raw_high"]}
(100), clipped, fitted on the CelebA validation split (see `card.yaml`).

## Training (reproducible; this 2-core CPU)
1. `python -m fiqa prepare-celeba --src data/celeba --out data/celeba_aligned` — CenterFace (gateway) + ArcFace
   alignment, 6,300 / 6,300 photos kept, 299 identities, identity-disjoint split (seed 0): 5,283 train / 1,017 val.
{middle_steps(args, facts)}
5. `cp <run dir>/model.onnx models/{args.name}/` and
   `python -m fiqa publish-regressor --name {args.name} --run <run dir> --labels {args.labels}{teacher}
   --evaluation reports/evaluation.json` — mapping, timing, LFW figures (once step 6 has run), this card.
6. `python -m fiqa evaluate --dataset lfw=../shared/data/lfw --fr fr_feature,dlib` (LFW View-2: evaluation only,
   never training) and, for the default model, `python -m fiqa calibrate --model {args.name} --target reject-rate=0.05
   --dataset lfw=../shared/data/lfw` (the decision threshold in `card.yaml`).

## Measured
- ONNX (dynamo exporter, opset 18, dynamic batch): max |onnxruntime − PyTorch| = {facts["parity_max_abs_diff"]:.2e}
  on real aligned CelebA validation faces (`tests/fiqa/train/test_committed_parity.py` re-checks the committed
  `model.onnx` against the committed `model.pt` on sample photos). Size {facts["size_bytes"] / 1e6:.2f} MB.
- CelebA validation ({facts["val_photos"]} photos + {facts["val_degraded"]} degraded copies, unseen identities):
  Spearman {facts["val_spearman_vs_labels"]} and L1 {facts["val_l1_vs_labels"]} against the labels.
- Per-face time, onnxruntime CPU, 1 intra-op thread, on this 2-core host: batch 1
  {facts["per_face_ms"]["batch1"]} ms, batch 32 {facts["per_face_ms"]["batch32"]} ms.{cost_line(facts)}

## Licence and data
Code: MIT (this project). Weights: trained on the photos named here, so bound by their terms.
Training photos: {data_note(facts)}. Teacher / label network: fr_feature (MIT).
"""
    (REPO / "models" / args.name / "README.md").write_text(text)


def write_card(args: argparse.Namespace, facts: dict) -> None:
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
        "sha256": sha256_of((REPO / "models" / args.name / "model.onnx").read_bytes()),
        "inputs": [{"name": INPUT, "dtype": "float32", "shape": [-1, 3, 112, 112]}],
        "outputs": [{"name": OUTPUT, "dtype": "float32", "shape": [-1, 1]}],
        "preprocess": PREPROCESS.model_dump(),
        "score_mapping": {
            "kind": "linear",
            "raw_low": facts["raw_low"],
            "raw_high": facts["raw_high"],
            "fitted_on": f"CelebA identity-disjoint validation split ({facts['val_photos']} photos, "
            f"{facts['val_degraded']} degraded copies): raw_low = 5th percentile on the degraded copies, raw_high = "
            "99th percentile on the photos; linear, clipped to 0..100. Not fitted on LFW.",
        },
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
    path = REPO / "models" / args.name / "card.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False, width=118, allow_unicode=True))


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
