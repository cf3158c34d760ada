"""Dataset layouts and synthetic degradations."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from PIL import Image

from fiqa.evaluate.datasets import all_comparisons, load_bin, load_flat, load_folders, load_lfw_pairs, open_dataset
from fiqa.evaluate.degrade import KINDS, Degradation, apply, degradation_of, degraded_dataset
from fiqa.evaluate.quality import sharpness


def _jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_all_comparisons_counts():
    first, second, mated, protocol = all_comparisons(["a", "a", "b", "b", "b"])
    assert first.size == 10 and mated.sum() == 1 + 3
    assert (first < second).all() and protocol == "all-vs-all"


def test_non_mated_comparisons_are_sampled_above_the_cap_and_every_mated_pair_kept():
    identities = [f"p{i // 3}" for i in range(60)]  # 20 people x 3 photos: 60 mated, 1,710 non-mated pairs
    first, second, mated, protocol = all_comparisons(identities, max_non_mated=500, seed=3)
    assert mated.sum() == 60 and (~mated).sum() == 500
    keys = first * 60 + second
    assert np.unique(keys).size == keys.size and (first < second).all()
    labels = np.asarray(identities)
    assert ((labels[first] == labels[second]) == mated).all()
    assert "500 of the 1,710 non-mated" in protocol
    again = all_comparisons(identities, max_non_mated=500, seed=3)
    assert (again[0] == first).all() and (again[1] == second).all()
    other = all_comparisons(identities, max_non_mated=500, seed=4)
    assert not np.array_equal(other[0] * 60 + other[1], keys)


def test_lfw_images_layout_compares_the_named_images_all_against_all(tmp_path):
    (tmp_path / "pairs.txt").write_text("1\t2\nAnn\t1\t2\nBob\t1\t3\nAnn\t1\tBob\t3\nCid\t2\tAnn\t2\n")
    data = open_dataset(tmp_path, "pairs-all")
    assert len(data.samples) == 5 and data.first.size == 10
    assert data.mated.sum() == 2  # Ann 1-2, Bob 1-3: pairs the protocol never listed are compared too
    assert data.identity_codes().tolist() == [0, 0, 1, 1, 2]


def test_subset_keeps_the_samples_and_the_cache_family(tmp_path):
    (tmp_path / "pairs.txt").write_text("1\t1\nAnn\t1\t2\nBob\t1\tAnn\t2\n")
    data = open_dataset(tmp_path, "pairs-all", name="lfw")
    part = data.subset(data.mated, "lfw-part", "mated only")
    assert part.samples is data.samples and part.cache_name == "lfw" and part.first.size == 1
    assert part.subset(part.mated, "y", "again").cache_name == "lfw"


def test_lfw_pairs(tmp_path):
    (tmp_path / "pairs.txt").write_text("1\t2\nAnn\t1\t2\nBob\t1\t3\nAnn\t1\tBob\t3\nCid\t2\tAnn\t2\n")
    data = open_dataset(tmp_path / "pairs.txt")
    assert data.protocol == "pairs" and data.mated.tolist() == [True, True, False, False]
    keys = [s.key for s in data.samples]
    assert keys == ["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg", "Bob/Bob_0001.jpg", "Bob/Bob_0003.jpg", "Cid/Cid_0002.jpg"]
    assert keys[data.first[2]] == "Ann/Ann_0001.jpg" and keys[data.second[2]] == "Bob/Bob_0003.jpg"
    assert load_lfw_pairs(tmp_path / "pairs.txt").summary()["non_mated"] == 2


def test_insightface_bin(tmp_path):
    path = tmp_path / "tiny.bin"
    path.write_bytes(pickle.dumps(([_jpeg(10), _jpeg(20), _jpeg(30), _jpeg(40)], [True, False])))
    data = load_bin(path)
    assert data.name == "tiny" and data.first.tolist() == [0, 2] and data.second.tolist() == [1, 3]
    assert data.mated.tolist() == [True, False] and data.samples[3].load() == _jpeg(40)
    path.write_bytes(pickle.dumps(([_jpeg(10)], [True])))
    with pytest.raises(ValueError):
        load_bin(path)


def test_folder_and_flat_layouts(tmp_path):
    for person in ("p1", "p2"):
        (tmp_path / "folders" / person).mkdir(parents=True)
        for i in range(2):
            (tmp_path / "folders" / person / f"{i}.jpg").write_bytes(_jpeg(i))
    folders = load_folders(tmp_path / "folders")
    assert [s.identity for s in folders.samples] == ["p1", "p1", "p2", "p2"] and folders.mated.sum() == 2
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("subject01.happy", "subject01.sad", "subject02.happy", "MANIFEST.txt"):
        (flat / name).write_bytes(_jpeg(1))
    yale = load_flat(flat)
    assert [s.identity for s in yale.samples] == ["subject01", "subject01", "subject02"]
    assert open_dataset(flat).summary()["mated"] == 1


def test_degradations_are_deterministic_and_grow_with_strength():
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(128, 60, (120, 100, 3)), 0, 255).astype(np.uint8)
    for kind in KINDS:
        once = apply(frame, Degradation(kind, 2))
        assert once.shape == frame.shape and once.dtype == np.uint8
        assert not np.array_equal(once, frame)
        np.testing.assert_array_equal(once, apply(frame, Degradation(kind, 2)))
    sharp = [sharpness(apply(frame, Degradation("blur", s))[None])[0] for s in (1, 2, 3)]
    assert sharp[0] > sharp[1] > sharp[2]
    means = [apply(frame, Degradation("darken", s)).mean() for s in (1, 2, 3)]
    assert means[0] > means[1] > means[2]


def test_degraded_dataset_keeps_identities(tmp_path):
    for person in ("p1", "p2"):
        (tmp_path / person).mkdir()
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buffer, "PNG")
        (tmp_path / person / "a.png").write_bytes(buffer.getvalue())
    source = load_folders(tmp_path)
    degraded = degraded_dataset(source, copies=2)
    assert len(degraded.samples) == 6 and [s.identity for s in degraded.samples].count("p1") == 3
    assert degradation_of(degraded.samples[0].key) == "original"
    assert degradation_of(degraded.samples[1].key)[:-1] in KINDS
    assert Image.open(io.BytesIO(degraded.samples[1].load())).size == (40, 40)
    assert degraded.fingerprint == degraded_dataset(source, copies=2).fingerprint
    # 6 images = 15 pairs, less the 2 x 3 pairs within one source image's family; no mated pair is left.
    assert degraded.first.size == 9 and not degraded.mated.any()


def test_lfw_folds_select_comparisons_and_keep_samples(tmp_path):
    rows = ["2\t1", "Ann\t1\t2", "Ann\t1\tBob\t1", "Cid\t1\t2", "Cid\t1\tBob\t2"]
    (tmp_path / "pairs.txt").write_text("\n".join(rows) + "\n")
    data = load_lfw_pairs(tmp_path / "pairs.txt")
    assert data.fold.tolist() == [1, 1, 2, 2]
    second = data.select_folds([2])
    assert len(second.samples) == len(data.samples) and second.mated.tolist() == [True, False]
    assert second.needed.sum() == 3 and second.summary()["samples"] == 3 and second.summary()["identities"] == 2


def test_celeba_validation_layout_takes_the_prepare_split_of_identities(tmp_path):
    from fiqa.data.celeba import split_identities

    (tmp_path / "Celeb").mkdir()
    lines = ["202599"]
    for number in range(40):
        name = f"{number:06d}.jpg"
        (tmp_path / "Celeb" / name).write_bytes(_jpeg(number))
        lines.append(f"{name} {100 + number // 4}")
    lines.append("999999.jpg 7")  # a photo of the full CelebA list that the subset does not hold
    (tmp_path / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    data = open_dataset(tmp_path, "celeba-val")
    expected = split_identities(np.repeat(np.arange(100, 110), 4), 0.15, 0)
    assert [s.key for s in data.samples] == [f"{i:06d}.jpg" for i in np.flatnonzero(expected == "val")]
    assert len({s.identity for s in data.samples}) == 2 and data.mated.sum() == 2 * 6
