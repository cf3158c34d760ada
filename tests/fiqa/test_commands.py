"""Every ``python -m fiqa`` command is listed in ``--help`` and follows the dispatcher's contract."""

from __future__ import annotations

import importlib

import pytest

from fiqa.__main__ import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_module_has_configure_and_main(name: str) -> None:
    module = importlib.import_module(COMMANDS[name][0])
    assert callable(module.configure) and callable(module.main)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    assert all(name in shown for name in COMMANDS)
