"""A models directory whose cards can be edited without touching the committed ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from service.registry import Registry
from service.settings import Settings

CardEdit = Callable[[dict], None]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(Settings().models_dir)


@pytest.fixture
def edited_registry(tmp_path: Path, registry: Registry) -> Callable[..., Registry]:
    """``edited_registry(name, edit, file_of=None)``: every card copied (``edit`` applied to ``name``'s), every
    network file linked; ``file_of`` links ``name``'s file to another network's instead (a swapped file)."""

    def make(name: str, edit: CardEdit | None = None, file_of: str | None = None) -> Registry:
        for card_name, card in registry.cards.items():
            folder = tmp_path / card_name
            folder.mkdir()
            data = yaml.safe_load((registry.models_dir / card_name / "card.yaml").read_text())
            if card_name == name and edit is not None:
                edit(data)
            (folder / "card.yaml").write_text(yaml.safe_dump(data))
            if card.file:
                source = registry.file_of(file_of if card_name == name and file_of else card_name)
                (folder / card.file).symlink_to(source)
        return Registry(tmp_path)

    return make
