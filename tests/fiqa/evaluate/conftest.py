"""Fixtures shared by the evaluation command tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Three ORL identities, four images each (92x112), copied to a temporary folder."""
    root = tmp_path_factory.mktemp("orl-tiny")
    for person in ("s1", "s2", "s3"):
        (root / person).mkdir()
        for number in range(1, 5):
            shutil.copy(data_dir / "orl" / person / f"{number}.pgm", root / person / f"{number}.pgm")
    return root
