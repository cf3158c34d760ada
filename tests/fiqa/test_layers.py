"""The training package's dependencies point one way: every ``fiqa`` import, module-level or inside a function,
goes to a package the importer's layer may use (so, for example, models never reach into training)."""

from __future__ import annotations

import ast
from pathlib import Path

FIQA = Path(__file__).resolve().parents[2] / "fiqa"

# package -> the fiqa packages it may import (itself included); anything not named here may import nothing of fiqa
ALLOWED = {
    "models": {"models"},
    "losses": {"losses"},
    "data": {"data"},
    "labels": {"labels", "data", "models"},
    "evaluate": {"evaluate", "data"},
    "ifqa": {"ifqa", "data", "evaluate"},
    "train": {"train", "labels", "data", "models", "losses", "evaluate"},
    "diffusion": {"diffusion", "labels", "data", "evaluate"},
    "checkpoints": {"models"},
}


def _fiqa_imports(path: Path) -> set[str]:
    """The ``fiqa`` packages a module imports (``fiqa.<package>...``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "fiqa" else [f"fiqa.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("fiqa.")}
    return found


def test_every_fiqa_import_follows_the_layers() -> None:
    wrong = []
    for path in sorted(FIQA.rglob("*.py")):
        parts = path.relative_to(FIQA).with_suffix("").parts
        if parts[0] in ("__init__", "__main__"):  # the package docstring; the dispatcher imports by name on use
            continue
        allowed = ALLOWED.get(parts[0], set())
        wrong += [f"{path.relative_to(FIQA.parent)} -> fiqa.{package}" for package in _fiqa_imports(path) - allowed]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_layer_check_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from fiqa.train.regressor import predict\n    import fiqa.evaluate.cost\n")
    assert _fiqa_imports(module) == {"train", "evaluate"}
