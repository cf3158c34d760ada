"""fiqa.evaluate.acquire: cached faces are keyed by the detector path that found them."""

from __future__ import annotations

from fiqa.evaluate.acquire import faces_tag
from service.runtime import Runtime
from service.settings import Settings


def tag(**settings: object) -> str:
    return faces_tag(Runtime(Settings(warmup=False, **settings)), aligned=False)


def test_each_detector_path_has_its_own_faces_tag() -> None:
    full = tag(detector_mode="full")
    fast = tag(detector_mode="fast", det_fast_side=320, det_refine_side=192)
    assert len({full, fast, tag(detector_mode="fast", det_fast_side=256, det_refine_side=192)}) == 3
    assert fast == tag(detector_mode="fast", det_fast_side=320, det_refine_side=192)
    assert fast != tag(detector_mode="fast", det_fast_side=320, det_refine_side=192, det_refine_margin=1.7)


def test_the_fast_sides_do_not_key_the_full_paths_faces() -> None:
    """The full path's cached faces keep their tag whatever the (unused) fast-path settings say."""
    assert tag(detector_mode="full", det_fast_side=256) == tag(detector_mode="full")
