"""Issue-18 benchmark: the capture-face paths side by side in one run (``detector_mode`` full vs fast candidates).

For each path: decode + detect time of a 640x480 and a 12 MP one-face JPEG (interleaved rounds, the gateway's
reduced decode); on each frame set, how often it finds the full path's face, how far its landmarks lie from the full
path's (mean distance over the 5 points, in the full face's inter-eye distances) and how much the default model's
0..100 score moves on the crops it aligns (absolute, signed, and the share of accept / reject decisions at its card
threshold that change); then ``/score`` end to end (concurrency 1 and a saturating one) on one
real gateway per path, levels interleaved. Results go to ``reports/detector.json``; ``python -m
loadtests.detector_report`` renders ``reports/detector.md``.

The rule that picks the default of ``detector_mode``, fixed before the first measurement on its selection set:

- Selection set: the CelebA validation photos as they are (identities never trained on; ``fiqa evaluate``'s
  ``celeba-val`` split), the sample photos as they are, and the sample portraits in 640x480 capture frames. LFW, ORL
  and Yale (each image in a 640x480 capture frame: as they are, every one is at most 320 px long, where both paths
  are the same single pass) are measured and reported, never used for the choice: LFW is the benchmark.
- A fast candidate qualifies when, over the selection set pooled: (1) it finds the full path's face (the largest
  one, as the evaluation takes it; IoU >= 0.5) in at least 99 % of the images where the full path finds one;
  (2) its landmarks lie on average within 0.05 inter-eye distances of the full path's (the tolerance
  ``tests/service/test_detect.py`` grants the full path between a frame and its half-size copy); (3) the default
  model's score moves on average no more than the full path's own does between a frame and its half-size copy
  (``full@0.5x``, measured in the same run on the same images).
- The qualifying candidate with the lowest decode + detect time on the 640x480 frame becomes the default; if none
  qualifies, ``full`` stays.

    python -m loadtests.bench_detector [--celeba data/celeba] [--limit 400] [--duration 15]   # make bench-detector
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from fiqa.evaluate.datasets import open_dataset
from loadtests.bench_models import median_ms
from loadtests.bench_score import measure
from loadtests.report import REPORTS, machine, provenance, save, settings_record
from loadtests.server import Gateway
from loadtests.workload import FRAME_SIZES, PORTRAITS, SAMPLES, Payload, capture_frame, one_face_jpeg
from service.align import align
from service.decode import decode_image
from service.detect import DETECTOR, Face
from service.detect_fast import iou
from service.runtime import Runtime
from service.settings import REPO_ROOT, Settings

DETECTOR_JSON = REPORTS / "detector.json"
SHARED = SAMPLES.parent
CAPTURE = FRAME_SIZES["face_vga"]
# The rule (see the module's docstring)
MIN_RECALL = 0.99
MAX_LANDMARK_IOD = 0.05
MATCH_IOU = 0.5
HALF = "full@0.5x"  # the reference: the full path on the frame at half size, mapped back


@dataclass(frozen=True)
class Candidate:
    """A detector path: its label and the settings that make it."""

    label: str
    settings: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> Candidate:
        """``full`` or ``COARSE:REFINE`` (a fast path; REFINE 0: no refinement pass)."""
        if text == "full":
            return cls("full", {"detector_mode": "full"})
        coarse, refine = (int(part) for part in text.split(":"))
        return cls(
            f"fast-{coarse}-{refine}", {"detector_mode": "fast", "det_fast_side": coarse, "det_refine_side": refine}
        )

    def env(self) -> dict[str, str]:
        return {f"FIQA_{key.upper()}": str(value) for key, value in self.settings.items()}


@dataclass(frozen=True)
class FrameSet:
    """Frames to compare the paths on: a name, whether the rule reads it, what it is, and the frames (key, RGB)."""

    name: str
    selection: bool
    what: str
    frames: Callable[[], Iterator[tuple[str, np.ndarray]]]


def decoded(data: bytes) -> np.ndarray:
    """An image as the evaluation decodes it (full resolution; ``fiqa.evaluate.acquire``)."""
    return decode_image(data, max_bytes=10**9, max_pixels=10**9, min_side=1).rgb


def in_capture_frame(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(capture_frame(Image.fromarray(rgb), CAPTURE))


def frame_sets(celeba: Path, limit: int, seed: int) -> list[FrameSet]:
    def files(paths: list[Path], capture: bool) -> Callable[[], Iterator[tuple[str, np.ndarray]]]:
        def frames() -> Iterator[tuple[str, np.ndarray]]:
            for path in paths:
                rgb = decoded(path.read_bytes())
                yield path.name, in_capture_frame(rgb) if capture else rgb

        return frames

    def celeba_frames() -> Iterator[tuple[str, np.ndarray]]:
        for sample in open_dataset(celeba, "celeba-val").samples:
            yield sample.key, decoded(sample.load())

    def portraits() -> Iterator[tuple[str, np.ndarray]]:
        for name in PORTRAITS:
            yield name, decoded(one_face_jpeg(CAPTURE, name))

    def drawn(paths: list[Path]) -> list[Path]:
        return sorted(random.Random(seed).sample(paths, min(limit, len(paths))))

    lfw = drawn(sorted((SHARED / "lfw" / "images").glob("*/*.jpg")))
    orl = drawn(sorted((SHARED / "orl").glob("s*/*.pgm")))
    yale = drawn(sorted((SHARED / "yalefaces").glob("subject*")))
    vga = f"{CAPTURE[0]}x{CAPTURE[1]} capture frames"
    return [
        FrameSet("celeba-val", True, "CelebA validation identities, photos as they are", celeba_frames),
        FrameSet("samples", True, "the sample photos as they are", files(sorted(SAMPLES.iterdir()), False)),
        FrameSet("samples-vga", True, f"the sample portraits in {vga}", portraits),
        FrameSet("lfw-vga", False, f"{len(lfw)} LFW images (seeded draw) in {vga}", files(lfw, True)),
        FrameSet("orl-vga", False, f"{len(orl)} ORL images in {vga}", files(orl, True)),
        FrameSet("yale-vga", False, f"{len(yale)} Yale images in {vga}", files(yale, True)),
    ]


@dataclass
class Compared:
    """Per image of a set and per path, its agreement with the full path's largest face: values by (what, path)."""

    images: int = 0
    reference: int = 0  # images where the full path found a face
    values: defaultdict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, what: str, label: str, value: float) -> None:
        self.values[what, label].append(value)

    def merge(self, other: Compared) -> None:
        self.images += other.images
        self.reference += other.reference
        for key, values in other.values.items():
            self.values[key].extend(values)

    def row(self, label: str) -> dict[str, Any]:
        def of(what: str) -> list[float]:
            return self.values.get((what, label), [])

        return {
            "path": label,
            "images": self.images,
            "full path faces": self.reference,
            "recall vs full": round(sum(of("found")) / max(1, len(of("found"))), 4),
            "faces only this path found": int(sum(of("extra"))),
            "answered as full": round(sum(of("same")) / max(1, self.images), 3),
            "landmarks mean (IOD)": _mean(of("landmarks")),
            "landmarks p95 (IOD)": _p95(of("landmarks")),
            "score change mean": _mean(of("score_change")),
            "score change p95": _p95(of("score_change")),
            "score shift mean": _mean(of("score_shift")),
            "decisions changed": _mean(of("flipped")),
            "detect ms mean": _mean(of("detect_ms")),
            "full detect ms mean": _mean(self.values.get(("detect_ms", "full"), [])),
        }


def _mean(values: list[float]) -> float | str:
    return round(float(np.mean(values)), 4) if values else ""


def _p95(values: list[float]) -> float | str:
    return round(float(np.percentile(values, 95)), 4) if values else ""


def largest(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda face: face.area, default=None)


def half_size_faces(runtime: Runtime, rgb: np.ndarray) -> list[Face]:
    """The full path on the frame at half size, in the frame's pixels."""
    height, width = rgb.shape[:2]
    half = cv2.resize(rgb, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
    sx, sy = width / half.shape[1], height / half.shape[0]
    factor = np.array([sx, sy])
    return [
        Face(box=face.box * np.tile(factor, 2), landmarks=face.landmarks * factor, score=face.score)
        for face in runtime.detect(half)
    ]


def compare(frames: Iterator[tuple[str, np.ndarray]], runtimes: dict[str, Runtime], model: str) -> Compared:
    """Every path on every frame (paths interleaved per frame), then the default model on the crops each aligned."""
    full = runtimes["full"]
    out = Compared()
    crops: defaultdict[str, list[np.ndarray]] = defaultdict(list)  # per path, and per path the full path's crops
    for _, rgb in frames:
        out.images += 1
        answers: dict[str, list[Face]] = {}
        for label, runtime in runtimes.items():
            started = time.perf_counter()
            answers[label] = runtime.detect(rgb)
            out.add("detect_ms", label, (time.perf_counter() - started) * 1000.0)
        answers[HALF] = half_size_faces(full, rgb)
        found_by_full = answers.pop("full")
        reference = largest(found_by_full)
        out.reference += reference is not None
        for label, faces in answers.items():
            out.add("same", label, _same(faces, found_by_full))
            if reference is None:
                out.add("extra", label, bool(faces))
                continue
            match = max(faces, key=lambda face: iou(face.box, reference.box), default=None)
            hit = match is not None and iou(match.box, reference.box) >= MATCH_IOU
            out.add("found", label, hit)
            if match is not None and hit:
                distance = np.linalg.norm(match.landmarks - reference.landmarks, axis=1).mean()
                out.add("landmarks", label, float(distance / reference.inter_eye_distance))
                crops[label].append(align(rgb, match.landmarks).crop)
                crops[f"{label}:full"].append(align(rgb, reference.landmarks).crop)
    method = full.methods[model]
    threshold = full.registry[model].threshold
    for label in (label for label in crops if not label.endswith(":full")):
        scores = method.to_score(full.score_crops(model, np.stack(crops[label])))
        reference_scores = method.to_score(full.score_crops(model, np.stack(crops[f"{label}:full"])))
        for score, reference_score in zip(scores, reference_scores, strict=True):
            out.add("score_change", label, abs(float(score - reference_score)))
            out.add("score_shift", label, float(score - reference_score))
            if threshold is not None:  # accept / reject at the model's card threshold, as the gateway decides
                out.add("flipped", label, (score >= threshold.value) != (reference_score >= threshold.value))
    return out


def _same(faces: list[Face], reference: list[Face]) -> bool:
    return len(faces) == len(reference) and all(
        np.array_equal(a.box, b.box) and np.array_equal(a.landmarks, b.landmarks)
        for a, b in zip(faces, reference, strict=True)
    )


async def frame_times(runtimes: dict[str, Runtime], repeats: int, rounds: int) -> list[dict[str, Any]]:
    """Decode + detect ms of a 640x480 and a 12 MP one-face JPEG per path, rounds interleaved across paths."""
    vga, big = one_face_jpeg(CAPTURE), one_face_jpeg(FRAME_SIZES["face_12mp"])
    times: dict[str, dict[str, list[float]]] = {label: {"vga": [], "12mp": []} for label in runtimes}
    for _ in range(rounds):
        for label, runtime in runtimes.items():
            reduce_to = runtime.settings.det_max_side if runtime.settings.det_reduced_decode else None
            times[label]["vga"].append(await median_ms(runtime, vga, reduce_to, repeats))
            times[label]["12mp"].append(await median_ms(runtime, big, reduce_to, repeats))
    rows = []
    for label, measured in times.items():
        vga_ms, big_ms = statistics.median(measured["vga"]), statistics.median(measured["12mp"])
        rows.append(
            {
                "path": label,
                "640x480 ms": round(vga_ms, 2),
                "12 MP ms": round(big_ms, 2),
                "12 MP / 640x480": round(big_ms / vga_ms, 2),
                "640x480 vs full": round(vga_ms / statistics.median(times["full"]["vga"]), 3),
            }
        )
    return rows


def choose(selection: dict[str, Any], timing: list[dict[str, Any]]) -> dict[str, Any]:
    """The module's rule applied to the pooled selection rows and the 640x480 times."""
    rows = {row["path"]: row for row in selection["rows"]}
    reference_change = rows[HALF]["score change mean"]
    verdicts = []
    for row in timing:
        if row["path"] == "full":
            continue
        result = rows[row["path"]]
        failed = []
        if result["recall vs full"] < MIN_RECALL:
            failed.append(f"recall {result['recall vs full']} < {MIN_RECALL}")
        if result["landmarks mean (IOD)"] == "" or result["landmarks mean (IOD)"] > MAX_LANDMARK_IOD:
            failed.append(f"landmarks {result['landmarks mean (IOD)']} > {MAX_LANDMARK_IOD} IOD")
        if result["score change mean"] == "" or result["score change mean"] > reference_change:
            failed.append(f"score change {result['score change mean']} > {HALF}'s {reference_change}")
        verdicts.append({"path": row["path"], "640x480 ms": row["640x480 ms"], "failed": failed})
    passing = sorted((v for v in verdicts if not v["failed"]), key=lambda v: v["640x480 ms"])
    return {"verdicts": verdicts, "chosen": passing[0]["path"] if passing else "full"}


def fast_path(chosen: str, settings: Settings, timing: list[dict[str, Any]]) -> str:
    """The path ``/score`` runs beside the full one: the rule's choice; without one (sets skipped, or none
    qualified), the configured fast path where it is a candidate, else the cheapest candidate."""
    if chosen != "full":
        return chosen
    configured = Candidate.parse(f"{settings.det_fast_side}:{settings.det_refine_side}").label
    labels = [row["path"] for row in timing]
    if settings.detector_mode == "fast" and configured in labels:
        return configured
    return min((row for row in timing if row["path"] != "full"), key=lambda row: row["640x480 ms"])["path"]


def score_paths(
    candidates: list[Candidate], concurrencies: list[int], duration: float, warmup: float
) -> list[dict[str, Any]]:
    """``/score`` on one gateway per path, each level run on every gateway in turn (load drift hits all alike)."""
    payload = Payload(kind="face_vga", body=one_face_jpeg(CAPTURE))
    rows = []
    with contextlib.ExitStack() as stack:
        gateways = {c.label: stack.enter_context(Gateway(env=c.env())) for c in candidates}
        for concurrency in concurrencies:
            for label, gateway in gateways.items():
                before = machine()["loadavg"]
                level = asyncio.run(measure(gateway.url, payload, concurrency, duration, warmup))
                rows.append({"path": label, "loadavg_before": before, "loadavg_after": machine()["loadavg"], **level})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.bench_detector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--celeba", type=Path, default=REPO_ROOT / "data" / "celeba", help="CelebA subset folder")
    parser.add_argument("--candidates", nargs="+", default=["320:192", "320:256", "256:192", "256:0"])
    parser.add_argument("--limit", type=int, default=400, help="images drawn from each of LFW, ORL, Yale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=10, help="calls per timing round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per /score level and path")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--skip", nargs="*", default=[], choices=["sets", "score"])
    parser.add_argument("--json", type=Path, default=DETECTOR_JSON)
    args = parser.parse_args(argv)

    base = Settings()
    model = base.default_models[0]
    candidates = [Candidate.parse("full"), *(Candidate.parse(text) for text in args.candidates)]
    runtimes = {c.label: Runtime(base.model_copy(update={**c.settings, "warmup": False})) for c in candidates}
    for runtime in runtimes.values():
        runtime.load([DETECTOR])
    out: dict[str, Any] = {
        **provenance(),
        "model": model,
        "settings": settings_record(base),
        "candidates": {c.label: c.settings for c in candidates},
        "rule": {"min_recall": MIN_RECALL, "max_landmarks_iod": MAX_LANDMARK_IOD, "score_reference": HALF},
    }
    out["timing"] = asyncio.run(frame_times(runtimes, args.repeats, args.rounds))
    print(out["timing"])
    if "sets" not in args.skip:
        pooled, sets = Compared(), []
        for frame_set in frame_sets(args.celeba, args.limit, args.seed):
            compared = compare(frame_set.frames(), runtimes, model)
            labels = [label for label in [*runtimes, HALF] if label != "full"]
            sets.append(
                {
                    "name": frame_set.name,
                    "selection": frame_set.selection,
                    "what": frame_set.what,
                    "rows": [compared.row(label) for label in labels],
                }
            )
            print(frame_set.name, sets[-1]["rows"])
            if frame_set.selection:
                pooled.merge(compared)
        out["sets"] = sets
        out["selection"] = {"rows": [pooled.row(label) for label in labels]}
        out["choice"] = choose(out["selection"], out["timing"])
        print(out["choice"])
    if "score" not in args.skip:
        new = fast_path(out.get("choice", {}).get("chosen", "full"), base, out["timing"])
        paths = [c for c in candidates if c.label in ("full", new)]
        out["score"] = {
            "paths": [c.label for c in paths],
            "duration_s": args.duration,
            "levels": score_paths(paths, args.concurrency, args.duration, args.warmup),
        }
    out["loadavg_after"] = machine()["loadavg"]
    save(args.json, out)
    print(f"wrote {args.json}; render it with python -m loadtests.detector_report")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
