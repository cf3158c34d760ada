"""The request mix: frame sizes, shares, determinism, and that every body is a decodable JPEG."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from PIL import Image

from loadtests.workload import FRAME_SIZES, MAPS_SHARE, MIX, Mix, named_mix, one_face_jpeg, payload


@pytest.mark.parametrize("kind", sorted(FRAME_SIZES))
def test_one_face_frames_have_their_size(kind: str) -> None:
    with Image.open(io.BytesIO(one_face_jpeg(FRAME_SIZES[kind]))) as image:
        assert image.format == "JPEG"
        assert image.size == FRAME_SIZES[kind]


@pytest.mark.parametrize("kind", ["group", "no_face"])
def test_group_and_empty_frames_are_jpegs(kind: str) -> None:
    body = payload(kind).body
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "JPEG"
        assert min(image.size) >= 200


def test_mix_follows_its_shares_and_is_seeded() -> None:
    mix, same = Mix(seed=3), Mix(seed=3)
    first = [(p.kind, p.query) for p in (mix.next() for _ in range(2000))]
    again = [(p.kind, p.query) for p in (same.next() for _ in range(2000))]
    assert first == again
    counts = Counter(kind for kind, _ in first)
    for kind, share in MIX.items():
        assert abs(counts[kind] / 2000 - share) < 0.04, kind
    maps = sum(1 for _, query in first if query == "return_maps=png") / 2000
    assert abs(maps - MAPS_SHARE) < 0.03
    assert abs(sum(MIX.values()) - 1.0) < 1e-9


def test_named_mix_single_kind_and_unknown() -> None:
    mix = named_mix("face_vga")
    assert {mix.next().kind for _ in range(20)} == {"face_vga"}
    assert all(mix.next().path == "/score" for _ in range(20))
    with pytest.raises(ValueError, match="unknown mix"):
        named_mix("face_8k")
    with pytest.raises(ValueError, match="unknown request kind"):
        payload("face_8k")
