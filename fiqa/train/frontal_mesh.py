"""``python -m fiqa frontal-mesh``: FaceMesh's frontal template, the mesh the head-pose measures fit to each face
(service/measures/pose.py), written into ``models/facemesh/card.yaml`` (``parameters.frontal_mesh``).

The template is FaceMesh's own mean mesh of neutral frontal captures, so that it has the network's proportions and
depth scale (no downloaded canonical model): Yale's ``normal``, ``centerlight`` and ``noglasses`` captures (15
people; Yale serves no pose check, so the pose is never validated on the faces it was built from). The meshes are
brought together by generalised Procrustes (rotation, scale, translation), and the mean is then turned so that its
axes follow the face's geometry, not the captures' average pose: x along the outer eye corners (mesh points 33 ->
263), y along the forehead top -> chin line (10 -> 152) made square to x, z = x × y (away from the camera). Last, it
is made left-right symmetric (each point averaged with its mirror partner, the nearest point of the mirrored mesh),
so that zero yaw and zero roll are those of a symmetric face::

    python -m fiqa frontal-mesh [--yale ../shared/data/yalefaces]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from fiqa.data.runtime import offline_runtime
from service.measures.mesh import FACE_PRESENT, NETWORK
from service.measures.pose import TEMPLATE, rotation
from service.registry import update_card
from service.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
CONDITIONS = ("normal", "centerlight", "noglasses")
EYE_CORNERS, FOREHEAD_CHIN = (33, 263), (10, 152)


def meshes(runtime: Runtime, paths: list[Path]) -> np.ndarray:
    """FaceMesh's 468 x (x, y, z) of the largest face of each photo where the mesh finds a face."""
    found = []
    for path in paths:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
        faces = runtime.detect(rgb)
        if not faces:
            continue
        (networks,) = runtime.measure_networks(["HeadPoseYaw"], rgb, [max(faces, key=lambda face: face.area)])
        outputs = networks[NETWORK]
        if float(outputs["face_flag"].reshape(-1)[0]) >= FACE_PRESENT:
            found.append(outputs["mesh"].reshape(468, 3).astype(np.float64))
    return np.stack(found)


def _normalised(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0)
    return centred / np.sqrt((centred**2).sum(axis=1).mean())


def procrustes_mean(stack: np.ndarray, rounds: int = 20) -> np.ndarray:
    """Generalised Procrustes: each mesh turned and scaled onto the running mean, until the mean stops moving."""
    mean = _normalised(stack.mean(axis=0))
    for _ in range(rounds):
        turned = [_normalised(points) @ rotation(points, mean).T for points in stack]
        updated = _normalised(np.mean(turned, axis=0))
        if np.abs(updated - mean).max() < 1e-9:
            break
        mean = updated
    return mean


def upright_symmetric(mean: np.ndarray) -> np.ndarray:
    """``mean`` in axes of the face's geometry (module docstring), then averaged with its mirror image."""
    x = mean[EYE_CORNERS[1]] - mean[EYE_CORNERS[0]]
    x /= np.linalg.norm(x)
    y = mean[FOREHEAD_CHIN[1]] - mean[FOREHEAD_CHIN[0]]
    y -= x * float(x @ y)
    y /= np.linalg.norm(y)
    frame = mean @ np.stack([x, y, np.cross(x, y)]).T
    frame[:, 0] -= frame[list(EYE_CORNERS), 0].mean()  # the midline at x = 0
    mirrored = frame * np.array([-1.0, 1.0, 1.0])
    partner = np.linalg.norm(frame[:, None] - mirrored[None], axis=2).argmin(axis=1)
    return _normalised((frame + mirrored[partner]) / 2.0)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yale", type=Path, default=REPO.parent / "shared" / "data" / "yalefaces")
    parser.add_argument("--card", type=Path, default=REPO / "models" / "facemesh" / "card.yaml")


def main(args: argparse.Namespace) -> int:
    """Run the command (``python -m fiqa`` parses its arguments with ``configure``)."""
    runtime = offline_runtime(warmup=False)
    paths = sorted(path for path in args.yale.iterdir() if path.suffix.lstrip(".") in CONDITIONS)
    stack = meshes(runtime, paths)
    runtime.shutdown()
    template = upright_symmetric(procrustes_mean(stack))
    update_card(args.card, "parameters", {TEMPLATE: np.round(template, 4).tolist()})
    how = (
        f"python -m fiqa frontal-mesh: FaceMesh's Procrustes mean of {len(stack)} Yale captures "
        f"({', '.join(CONDITIONS)}), axes from the eye corners and forehead-chin line, made left-right symmetric"
    )
    update_card(args.card, "source", {TEMPLATE: how})
    print(f"{TEMPLATE}: {len(stack)} meshes of {len(paths)} captures -> {args.card}")
    return 0
