"""fiqa.ifqa.regions: the geometric face oval and primary-region boxes on the ArcFace template."""

from __future__ import annotations

import numpy as np
from insightface.utils.face_align import arcface_dst

from fiqa.ifqa import regions

TEMPLATE = np.asarray(arcface_dst, dtype=np.float32)  # 112x112 crop positions


def test_face_oval_covers_the_landmarks_and_not_the_corners():
    mask = regions.face_mask(TEMPLATE, 112)
    for x, y in TEMPLATE:
        assert mask[round(y), round(x)] == 1
    assert mask[0, 0] == mask[0, 111] == mask[111, 0] == mask[111, 111] == 0
    assert 0.35 < mask.mean() < 0.55  # the oval covers roughly half of the ArcFace crop


def test_face_oval_follows_a_rotated_face():
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = (TEMPLATE - 56) @ rotation.T + 56
    straight, tilted = regions.face_mask(TEMPLATE, 112), regions.face_mask(rotated, 112)
    assert abs(straight.sum() - tilted.sum()) / straight.sum() < 0.03  # same area
    assert not np.array_equal(straight, tilted)
    for x, y in rotated:
        assert tilted[round(y), round(x)] == 1


def test_region_boxes_contain_their_landmarks_and_do_not_overlap():
    boxes = regions.region_boxes(TEMPLATE)
    (left, right), (nose,), (mouth,) = boxes["eyes"], boxes["nose"], boxes["mouth"]
    for (x0, y0, x1, y1), point in ((left, TEMPLATE[0]), (right, TEMPLATE[1]), (nose, TEMPLATE[2])):
        assert x0 < point[0] < x1 and y0 < point[1] < y1
    for point in TEMPLATE[3:]:
        assert mouth[0] < point[0] < mouth[2] and mouth[1] < point[1] < mouth[3]
    masks = {name: regions.region_mask(TEMPLATE, 112, [name]) for name in regions.REGIONS}
    assert all(mask.sum() > 0 for mask in masks.values())
    assert (masks["eyes"] * masks["mouth"]).sum() == 0
    face = regions.face_mask(TEMPLATE, 112)
    union = regions.region_mask(TEMPLATE, 112, regions.REGIONS)
    assert (union * face).sum() / union.sum() > 0.97  # the regions lie inside the oval


def test_boxes_are_clipped_to_the_image():
    mask = regions.boxes_mask([(-10.0, -10.0, 5.0, 5.0), (60.0, 60.0, 200.0, 200.0)], 64)
    assert mask[:5, :5].all() and mask[60:, 60:].all() and mask.sum() == 25 + 16


def test_fprs_masks_are_random_non_empty_unions_of_regions():
    rng = np.random.default_rng(0)
    union = regions.region_mask(TEMPLATE, 112, regions.REGIONS)
    seen = set()
    for _ in range(60):
        mask = regions.fprs_mask(TEMPLATE, 112, rng)
        assert mask.sum() > 0
        assert np.all(mask <= union)
        seen.add(mask.tobytes())
    assert len(seen) == 7  # every non-empty subset of {eyes, nose, mouth} turns up


def test_flipping_landmarks_mirrors_the_masks():
    flipped = regions.flip_landmarks(TEMPLATE, 112)
    assert flipped[0, 0] < flipped[1, 0]  # still left eye first
    np.testing.assert_allclose(regions.flip_landmarks(flipped, 112), TEMPLATE)
    original = regions.region_mask(TEMPLATE, 112, ["eyes", "mouth"])
    mirrored = regions.region_mask(flipped, 112, ["eyes", "mouth"])
    assert (original[:, ::-1] != mirrored).mean() < 0.01
