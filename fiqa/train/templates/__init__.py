"""The prose of a published regressor's README and card, one Markdown file per part, filled with a run's figures.

Placeholders are ``string.Template``'s (``$name``); every one must be given, so a renamed figure fails loudly.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

FOLDER = Path(__file__).resolve().parent


def render(template: str, /, **values: object) -> str:
    """``<template>.md`` with its placeholders filled, less the file's final newline."""
    return Template((FOLDER / f"{template}.md").read_text(encoding="utf-8")).substitute(values).removesuffix("\n")
