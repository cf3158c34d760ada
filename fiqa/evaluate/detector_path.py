"""``python -m fiqa detector-validity``: does the served detector path keep the default model's validity on LFW?

Every offline figure (``python -m fiqa evaluate``) is made on faces from the reference full path; the gateway serves
the path its settings name (by default the two-pass fast path, ``service/detect_fast.py``, which
``loadtests/bench_detector.py`` chose on its own selection set). Here LFW View-2's all-comparisons protocol is scored
twice by the default quality model, once on the faces each path finds, against the same comparison scores (the
full path's faces of the images as they are, as in the published evaluation), and the pAUC difference served − full
is bootstrapped on the same replicates (identities resampled): the issue asks it to lie within the bootstrap noise,
an interval that holds 0. Two frame sets: LFW's images as they are (250x250) and each image in a 640x480 capture
frame (how a capture device sends a face; ``loadtests.workload.capture_frame``). Per set also: the faces each path
found, the landmark distance, and the score change on faces both found (absolute, signed, decisions changed at the
card threshold). LFW is the benchmark: this reports, it chooses nothing.

    python -m fiqa detector-validity [--dataset lfw=../shared/data/lfw:pairs-all] [--fr all] [--bootstrap 500]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shlex
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fiqa.data.runtime import offline_runtime, served_runtime
from fiqa.evaluate import analysis
from fiqa.evaluate.acquire import Acquired, acquire, faces_tag
from fiqa.evaluate.cache import Cache
from fiqa.evaluate.datasets import Dataset, Sample
from fiqa.evaluate.quality import QualityScores, model_scores
from fiqa.evaluate.recognition import embeddings, recognizers
from fiqa.evaluate.run import parse_dataset
from loadtests.report import machine, markdown_table, provenance
from loadtests.sections import commit_text, machine_text
from loadtests.workload import capture_frame, jpeg
from service.runtime import Runtime

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
CAPTURE = (640, 480)
FMR = 1e-3
UPPERS = (0.2, 0.3)
FULL = "full path"
SERVED = "served path"


def configure(parser: argparse.ArgumentParser) -> None:
    lfw = REPO.parent / "shared" / "data" / "lfw"
    parser.add_argument("--dataset", default=f"lfw={lfw}:pairs-all", metavar="NAME=PATH[:LAYOUT]", help="as evaluate's")
    parser.add_argument("--fr", default="all", help="face-recognition models, comma-separated, or 'all'")
    parser.add_argument("--bootstrap", type=int, default=500, help="paired bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "cache", help="the evaluation's cache")
    parser.add_argument("--limit", type=int, default=None, help="a seeded draw of N comparisons (a quick look)")
    parser.add_argument("--json", type=Path, default=REPO / "reports" / "detector_validity.json")


def framed(sample: Sample, size: tuple[int, int]) -> bytes:
    """The sample's image in a capture frame of ``size``, as a JPEG (quality 90)."""
    with Image.open(io.BytesIO(sample.load())) as image:
        return jpeg(capture_frame(image, size))


def in_capture_frames(dataset: Dataset, size: tuple[int, int] = CAPTURE) -> Dataset:
    """The same comparisons, each image in a capture frame (sample indices, and so comparisons, unchanged)."""
    width, height = size
    samples = [Sample(f"{s.key}@{width}x{height}", s.identity, partial(framed, s, size)) for s in dataset.samples]
    return replace(
        dataset,
        name=f"{dataset.name}-{width}x{height}",
        samples=samples,
        protocol=f"{dataset.protocol}; each image in a {width}x{height} capture frame",
        family=None,
    )


def path_label(runtime: Runtime) -> str:
    """The detector settings a runtime serves, as the benchmark names its paths."""
    s = runtime.settings
    if s.detector_mode == "full":
        return f"full ({s.det_max_side} px)"
    return f"fast (coarse {s.det_fast_side}, refine {s.det_refine_side}, margin {s.det_refine_margin:g})"


def agreement(full: Acquired, served: Acquired, scores: tuple[QualityScores, QualityScores], threshold: float | None):
    """Faces found, landmark distance (mean of the 5 points in the full path's inter-eye distance) on the faces both
    paths found, and the score change on those both scored."""
    both = full.ok & served.ok
    distance = np.linalg.norm(served.landmarks[both] - full.landmarks[both], axis=2).mean(1) / full.inter_eye[both]
    scored = np.isfinite(scores[0].score) & np.isfinite(scores[1].score)  # the samples of mated comparisons
    reference, other = scores[0].score[scored], scores[1].score[scored]
    change = other - reference
    out: dict[str, Any] = {
        "faces full path": int(full.ok.sum()),
        "faces served path": int(served.ok.sum()),
        "faces both": int(both.sum()),
        "faces scored by both": int(scored.sum()),
        "landmarks mean (IOD)": round(float(distance.mean()), 4),
        "landmarks p95 (IOD)": round(float(np.percentile(distance, 95)), 4),
        "score change mean": round(float(np.abs(change).mean()), 4),
        "score change p95": round(float(np.percentile(np.abs(change), 95)), 4),
        "score shift mean": round(float(change.mean()), 4),
    }
    if threshold is not None:
        out["decisions changed"] = round(float(np.mean((other >= threshold) != (reference >= threshold))), 4)
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def paired(outcome: analysis.Outcome) -> list[dict[str, Any]]:
    """Per FR model and pAUC upper bound: each path's pAUC and the paired difference served − full (None where the
    pAUC is undefined: no false non-match at the threshold to discard)."""
    rows = []
    for fr, entry in outcome.results["recognition"].items():
        key = f"{FMR:g}"
        full, served = entry["quality"][FULL]["fixed"][key], entry["quality"][SERVED]["fixed"][key]
        for upper in UPPERS:
            name = f"pauc_{upper:g}"
            diff = served[f"vs_{FULL}"][name]
            low, high = diff["low"], diff["high"]
            rows.append(
                {
                    "recognition": fr,
                    "pAUC upper": upper,
                    "mated": entry["mated"],
                    "full path": _rounded(full[name]["value"]),
                    "served path": _rounded(served[name]["value"]),
                    "served − full": _rounded(diff["value"]),
                    "95 % interval": [_rounded(low), _rounded(high)],
                    "within the noise": None if low is None or high is None else low <= 0.0 <= high,
                }
            )
    return rows


def evaluate_set(
    dataset: Dataset,
    runtimes: tuple[Runtime, Runtime],
    compared: list[analysis.Comparisons],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One frame set: faces by both paths, the default model on each, the paired analysis and the agreement."""
    model = runtimes[0].settings.default_models[0]
    cache = Cache(args.cache, dataset.cache_name, dataset.fingerprint)
    rows = dataset.in_mated  # the fixed threshold discards mated comparisons only
    found, qualities = [], []
    for runtime, name in zip(runtimes, (FULL, SERVED), strict=True):
        faces = acquire(runtime, dataset, cache, needed=dataset.needed)
        scores = model_scores(runtime, model, faces, cache, faces_tag(runtime, False), rows)
        found.append(faces)
        qualities.append(QualityScores(name, "model", scores.raw, scores.score, scores.recognition))
    settings = analysis.Settings(
        fmrs=(FMR,),
        uppers=UPPERS,
        replicates=args.bootstrap,
        seed=args.seed,
        conventions=("fixed",),
        references=(FULL,),
    )
    outcome = analysis.analyse(dataset, found[0], qualities, compared, settings, rows)
    threshold = runtimes[0].registry[model].threshold
    return {
        "name": dataset.name,
        "protocol": dataset.protocol,
        "agreement": agreement(found[0], found[1], (qualities[0], qualities[1]), threshold and threshold.value),
        "paired": paired(outcome),
    }


def render(report: dict[str, Any]) -> str:
    """``reports/detector_validity.md`` from its JSON."""
    out = [
        "# The served detector path: validity of the default model",
        "",
        "Generated by `python -m fiqa detector-validity` (it writes the JSON beside this file); do not edit by "
        "hand. " + (__doc__ or "").split("\n\n")[1].replace("\n", " "),
        "",
        f"Model `{report['model']}` · {commit_text(report)} · date {report['date']} · {machine_text(report)} · "
        f"load average at the end {' / '.join(report['loadavg_after'])} · {report['seconds']} s.",
        "",
        f"Paths: full = `{report['paths']['full']}`; served = `{report['paths']['served']}`.",
    ]
    for frame_set in report["sets"]:
        agreement_row = [{"set": frame_set["name"], **frame_set["agreement"]}]
        out += [
            "",
            f"## `{frame_set['name']}`",
            "",
            f"{frame_set['protocol']}.",
            "",
            markdown_table(agreement_row, list(agreement_row[0])),
            "",
            f"pAUC of the EDC at FMR {FMR:g} (fixed threshold), each path and the paired difference with its 95 % "
            f"bootstrap interval ({report['bootstrap']} replicates, identities resampled):",
            "",
            markdown_table(frame_set["paired"], list(frame_set["paired"][0])),
        ]
    out += ["", "## Verdict", "", report["verdict"], "", "## Command", "", "```sh", report["command"], "```"]
    return "\n".join(out) + "\n"


def verdict(sets: list[dict[str, Any]]) -> str:
    """Whether every paired interval holds 0, and where one does not."""
    outside = [
        f"{frame_set['name']} / {row['recognition']} / pAUC@{row['pAUC upper']:g} ({row['served − full']:+})"
        for frame_set in sets
        for row in frame_set["paired"]
        if row["within the noise"] is False
    ]
    undefined = sum(row["within the noise"] is None for frame_set in sets for row in frame_set["paired"])
    if undefined:
        outside.append(f"{undefined} comparison(s) undefined (no false non-match to discard)")
    if not outside:
        return "Every paired interval holds 0: on LFW the served path leaves the default model's pAUC within the noise."
    return "Not every paired interval holds 0 (served − full): " + "; ".join(outside) + "."


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    started, recorded = time.monotonic(), provenance()
    full = offline_runtime()
    served = served_runtime()
    dataset = parse_dataset(args.dataset, None)
    if args.limit:
        keep = np.zeros(len(dataset.first), dtype=bool)
        keep[np.random.default_rng(args.seed).choice(keep.size, min(args.limit, keep.size), replace=False)] = True
        dataset = dataset.subset(
            keep, dataset.name, f"{dataset.protocol}; a seeded draw of {int(keep.sum())} comparisons"
        )
    cache = Cache(args.cache, dataset.cache_name, dataset.fingerprint)
    faces = acquire(full, dataset, cache, needed=dataset.needed)
    compared = []
    for recognizer in recognizers(full, args.fr.split(","), "dlib"):
        vectors = embeddings(recognizer, dataset, faces, cache, faces_tag(full, False))
        compared.append(analysis.comparisons(dataset, faces, recognizer.name, vectors, recognizer.similarity))
    sets = [evaluate_set(frames, (full, served), compared, args) for frames in (dataset, in_capture_frames(dataset))]
    report = {
        **recorded,
        "command": " ".join(["python -m fiqa detector-validity", *(shlex.quote(a) for a in sys.argv[2:])]),
        "model": full.settings.default_models[0],
        "paths": {"full": path_label(full), "served": path_label(served)},
        "bootstrap": args.bootstrap,
        "sets": sets,
        "verdict": verdict(sets),
        "seconds": round(time.monotonic() - started, 1),
        "loadavg_after": machine()["loadavg"],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    args.json.with_suffix(".md").write_text(render(report))
    log.info("%s", report["verdict"])
    full.shutdown()
    served.shutdown()
    return 0
