"""Cost per face of the component measures (service/measures) as the pipeline runs them (``Runtime.measure``): one
face at a time (batch 1), the networks the set's measures read (FaceMesh, the emotion classifier, the selfie
segmentation: crops, inference in the gateway's own onnxruntime sessions, side by side, each with the gateway's
``FIQA_ORT_MEASURE_INTRA_OP_THREADS``), then every measure in one worker thread; each set: the measures the
``access_control`` and ``enrolment`` profiles check (what ``options.measures=default`` returns under each), and all.

Faces are real (LFW photos and the sample portraits), detected and aligned once beforehand; only the measure stage
is timed. OpenCV gets ``--threads`` threads, as do the other onnxruntime sessions (the gateway's 2 by default;
numpy here is single-threaded). A figure
is the median over ``--rounds`` rounds of the mean per face; the sets are interleaved within each round so that
a change in the shared host's load hits all of them alike. Results go to reports/performance.json (section
``bench_measures``); issue 16 sets the target at 8 ms per face for the default measures.

    python -m loadtests.bench_measures [--rounds 5] [--threads 2] [--faces 24]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from loadtests.report import markdown_table, provenance, update_performance
from service.align import align
from service.decision import PROFILES
from service.measures import MEASURES, networks_for
from service.runtime import Runtime
from service.settings import REPO_ROOT

DATA = REPO_ROOT.parent / "shared" / "data"


def real_faces(runtime: Runtime, data: Path, count: int) -> list[tuple[np.ndarray, Any]]:
    """(frame, largest face) of up to ``count`` real photos: LFW first, then the sample portraits."""
    paths = sorted((data / "lfw" / "images").glob("*/*_0001.jpg"))[:count]
    paths += sorted((data / "samples").glob("*.jpg"))
    faces = []
    for path in paths[:count]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        found = sorted(runtime.detect(rgb), key=lambda face: face.area, reverse=True)
        if found:
            faces.append((rgb, found[0]))
    return faces


def per_face_ms(runtime: Runtime, faces: list[tuple[np.ndarray, Any]], crops: list[Any], names: list[str]) -> float:
    """Mean wall time per face of assessing ``names`` with the networks they read (the pipeline's measure
    stages)."""
    started = time.perf_counter()
    for (rgb, face), crop in zip(faces, crops, strict=True):
        runtime.measure(names, rgb, [face], [crop], [face])
    return (time.perf_counter() - started) * 1000.0 / len(faces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.bench_measures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median over them)")
    parser.add_argument("--threads", type=int, default=2, help="OpenCV threads (the gateway's CPU workers)")
    parser.add_argument("--faces", type=int, default=24, help="real faces timed per round")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared face data (lfw/, samples/)")
    parser.add_argument("--section", default="bench_measures", help="key in reports/performance.json")
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    runtime = Runtime.from_env(warmup=False, ort_intra_op_threads=args.threads)
    faces = real_faces(runtime, args.data, args.faces)
    crops = [align(rgb, face.landmarks) for rgb, face in faces]
    sets = {f"default ({profile})": list(thresholds) for profile, thresholds in PROFILES.items()}
    sets["all"] = list(MEASURES)
    per_face_ms(runtime, faces, crops, sets["all"])  # warm-up: imports, caches, sessions
    times: dict[str, list[float]] = {name: [] for name in sets}
    for _ in range(args.rounds):
        for name, names in sets.items():
            times[name].append(per_face_ms(runtime, faces, crops, names))
    runtime.shutdown()
    rows = [
        {
            "measures": name,
            "count": len(names),
            "networks": ", ".join(sorted(networks_for(names) & set(runtime.registry.cards))) or "none",
            "ms/face b1": round(statistics.median(times[name]), 3),
        }
        for name, names in sets.items()
    ]
    record = {**provenance(), "threads": args.threads, "faces": len(faces), "rows": rows}
    update_performance(args.section, record)
    print(f"## Component measures, cost per face (batch 1, {args.threads} threads, {len(faces)} faces)\n")
    print(markdown_table(rows, list(rows[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
