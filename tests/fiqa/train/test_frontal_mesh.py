"""fiqa.train.frontal_mesh: the command writes the frontal template into the facemesh card through update_card, and
the template it builds from Yale's neutral captures is the one the card holds (so the card can be rebuilt), upright
(eye corners level, forehead above chin, the nose towards the camera) and left-right symmetric (its mirror image
fits it with no turn)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import yaml

from fiqa.train.frontal_mesh import EYE_CORNERS, FOREHEAD_CHIN, configure, main
from service.measures.pose import TEMPLATE, angles, rotation
from service.settings import REPO_ROOT

CARD = REPO_ROOT / "models" / "facemesh" / "card.yaml"
NOSE_TIP = 1


def _template(card: Path) -> np.ndarray:
    return np.asarray(yaml.safe_load(card.read_text())["parameters"][TEMPLATE], dtype=np.float64)


def test_the_command_rebuilds_the_cards_template(tmp_path: Path, data_dir: Path) -> None:
    card = tmp_path / "card.yaml"
    shutil.copy(CARD, card)
    parser = argparse.ArgumentParser()
    configure(parser)
    assert main(parser.parse_args(["--yale", str(data_dir / "yalefaces"), "--card", str(card)])) == 0
    rebuilt, committed = _template(card), _template(CARD)
    assert rebuilt.shape == committed.shape == (468, 3)
    assert np.abs(rebuilt - committed).max() < 2e-3  # the card keeps four decimals
    assert yaml.safe_load(card.read_text())["source"][TEMPLATE].startswith("python -m fiqa frontal-mesh")


def test_the_template_is_upright_and_symmetric() -> None:
    template = _template(CARD)
    left, right = template[list(EYE_CORNERS)]
    forehead, chin = template[list(FOREHEAD_CHIN)]
    assert abs(right[1] - left[1]) < 1e-3 and abs(right[2] - left[2]) < 1e-3 and right[0] > left[0]
    assert chin[1] > forehead[1] and template[NOSE_TIP, 2] < template[:, 2].mean()  # smaller z: nearer the camera
    mirrored = template * np.array([-1.0, 1.0, 1.0])
    partner = np.linalg.norm(template[:, None] - mirrored[None], axis=2).argmin(axis=1)
    yaw, pitch, roll = angles(rotation(template, mirrored[partner]))
    assert max(abs(yaw), abs(pitch), abs(roll)) < 0.5
