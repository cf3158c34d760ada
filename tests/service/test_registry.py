"""service.registry: the repository's model cards load and agree with each other; bad cards are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic
import pytest
import yaml

from service.errors import ModelMismatch
from service.registry import ModelCard, Registry, ScoreMapping, update_card
from service.settings import REPO_ROOT

MODELS = REPO_ROOT / "models"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(MODELS)


def test_repository_cards_load(registry: Registry) -> None:
    assert {"centerface", "fr_feature", "diffiqa"} <= set(registry.cards)
    assert registry["centerface"].kind == "detector"
    assert registry["fr_feature"].kind == "face_recognition"
    assert "diffiqa" in registry.quality_methods()
    assert all(registry[name].kind == "quality" for name in registry.quality_methods())
    assert "nonexistent" not in registry


def test_files_and_networks(registry: Registry) -> None:
    assert registry.file_of("fr_feature") == MODELS / "fr_feature" / "model.onnx"
    assert registry.file_of("fr_feature").is_file()  # fetched by `make models`
    assert registry["centerface"].networks == ["centerface"]
    assert registry["diffiqa"].networks == ["fr_feature"]
    with pytest.raises(KeyError):
        registry.file_of("diffiqa")  # an analytic method has no file of its own


def test_every_quality_card_is_complete(registry: Registry) -> None:
    for name in registry.quality_methods():
        card = registry[name]
        assert card.score_mapping is not None, name
        # a maps-only model gives no score, so it has no decision threshold either
        assert (card.threshold is None) == card.maps_only, name
        assert card.threshold is None or 0.0 <= card.threshold.value <= 100.0
        assert card.score_mapping.raw_low < card.score_mapping.raw_high
        assert all(used in registry for used in card.uses), card.uses


def test_fr_feature_card_facts(registry: Registry) -> None:
    card = registry["fr_feature"]
    assert [spec.name for spec in card.inputs] == ["input"]
    assert card.inputs[0].shape == [-1, 3, 112, 112]
    assert card.outputs[0].shape == [-1, 512]
    assert card.preprocess is not None and card.preprocess.channel_order == "BGR"
    assert card.preprocess.mean == 127.0 and card.preprocess.scale == pytest.approx(1 / 128)


def test_score_mapping_is_linear_and_clipped() -> None:
    mapping = ScoreMapping(raw_low=0.8, raw_high=0.99)
    raw = np.array([0.0, 0.8, 0.895, 0.99, 1.0, -5.0])
    np.testing.assert_allclose(mapping.to_score(raw), [0.0, 0.0, 50.0, 100.0, 100.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(mapping.to_score(0.8 + 0.19 * 0.25), 25.0)
    grid = mapping.to_score(np.linspace(0.8, 0.99, 11))
    np.testing.assert_allclose(np.diff(grid), 10.0)
    assert mapping.to_score(np.zeros((2, 3))).shape == (2, 3)


def test_score_mapping_with_decreasing_raw() -> None:
    """A model whose raw output falls with quality states raw_low > raw_high; the mapping follows."""
    mapping = ScoreMapping(raw_low=2.0, raw_high=0.0)
    np.testing.assert_allclose(mapping.to_score(np.array([2.0, 1.0, 0.0, -1.0])), [0.0, 50.0, 100.0, 100.0])


def write_card(folder: Path, card: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "card.yaml").write_text(yaml.safe_dump(card))


MINIMAL = {"name": "toy", "version": "1", "kind": "detector", "file": "model.onnx"}


def test_card_in_a_folder_of_another_name_is_refused(tmp_path: Path) -> None:
    write_card(tmp_path / "other_name", MINIMAL)
    with pytest.raises(ValueError, match="differs from its folder"):
        Registry(tmp_path)


def test_card_with_unknown_field_is_refused(tmp_path: Path) -> None:
    write_card(tmp_path / "toy", {**MINIMAL, "treshold": 50})
    with pytest.raises(pydantic.ValidationError):
        Registry(tmp_path)


def test_minimal_card_in_tmp_dir(tmp_path: Path) -> None:
    write_card(tmp_path / "toy", MINIMAL)
    registry = Registry(tmp_path)
    assert list(registry.cards) == ["toy"]
    assert registry.file_of("toy") == tmp_path / "toy" / "model.onnx"
    assert registry.quality_methods() == []


def test_card_validation_of_enums() -> None:
    with pytest.raises(pydantic.ValidationError):
        ModelCard.model_validate({**MINIMAL, "kind": "tokenizer"})
    with pytest.raises(pydantic.ValidationError):
        ModelCard.model_validate({**MINIMAL, "inputs": [{"name": "x", "dtype": "float64", "shape": [1]}]})


def test_every_network_file_is_pinned_by_its_card(registry: Registry) -> None:
    for name, card in registry.cards.items():
        if card.file:
            assert card.sha256 is not None, f"{name}: card has a file but no sha256"
            assert registry.read_verified(name)  # the committed or fetched file is the one the card names


def _copied_models(tmp_path: Path, names: list[str]) -> Path:
    for name in names:
        (tmp_path / name).mkdir()
        for item in (MODELS / name).iterdir():
            if item.name in ("card.yaml", "model.onnx"):
                (tmp_path / name / item.name).write_bytes(item.read_bytes())
    return tmp_path


def test_a_swapped_file_is_refused(tmp_path: Path) -> None:
    """A valid network of the same shape under another card's name: structurally fine, refused by its hash."""
    models = _copied_models(tmp_path, ["diffiqa_r", "mrfiqa_r"])
    (models / "mrfiqa_r" / "model.onnx").write_bytes((MODELS / "diffiqa_r" / "model.onnx").read_bytes())
    registry = Registry(models)
    assert registry.read_verified("diffiqa_r")
    with pytest.raises(ModelMismatch, match="sha256"):
        registry.read_verified("mrfiqa_r")


def test_update_card_sets_entries_and_keeps_other_lines(tmp_path: Path) -> None:
    card = tmp_path / "m" / "card.yaml"
    card.parent.mkdir()
    text = (
        "name: m\nversion: '1'\nkind: face_recognition\n# a hand-written comment\nsource:\n  npm: x@1\n"
        "  note: >\n    folded\n    prose\nmetrics: {}\n"
    )
    card.write_text(text)
    update_card(card, "metrics", {"lfw": "99.1 % ± 0.3: (10 folds)"})
    update_card(card, "source", {"note": "short", "conversion": "ab"})
    update_card(card, "metrics", {"lfw": "99.2 %"})
    written = card.read_text()
    assert "# a hand-written comment" in written and "prose" not in written
    loaded = Registry(tmp_path)["m"]
    assert loaded.metrics == {"lfw": "99.2 %"}
    assert loaded.source == {"npm": "x@1", "note": "short", "conversion": "ab"}


def test_update_card_replaces_a_quoted_value_that_holds_blank_lines(tmp_path: Path) -> None:
    """A wrapped single-quoted scalar as yaml.safe_dump writes it (a blank line, then the closing quote) is replaced
    whole, and the keys after it are kept."""
    card = tmp_path / "m" / "card.yaml"
    card.parent.mkdir()
    card.write_text(
        "name: m\nversion: '1'\nkind: face_recognition\nsource:\n  note: 'first line\n    second line\n\n    '\n"
        "  kept: k\n"
    )
    update_card(card, "source", {"note": "new"})
    assert Registry(tmp_path)["m"].source == {"note": "new", "kept": "k"}
