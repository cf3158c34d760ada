"""The README's generated evaluation block: tables from the report, verdicts from paired intervals."""

from __future__ import annotations

from fiqa.evaluate.summary import BEGIN, END, render, replaced


def _area(value: float, low: float | None = None, high: float | None = None) -> dict:
    return {"value": value, "low": low, "high": high}


def _report() -> dict:
    default = {
        "pauc_0.2": _area(0.8, 0.7, 0.9),
        "vs_diffiqa": {"pauc_0.2": _area(-0.01, -0.05, 0.03)},
        "vs_face_size": {"pauc_0.2": _area(-0.1, -0.15, -0.05)},
    }
    quality = {
        "m": {"setting": "cross-recognition-model", "fixed": {"0.001": default}},
        "face_size": {"setting": "independent", "fixed": {"0.001": {"pauc_0.2": _area(0.9)}}},
    }
    same = {"m": {"setting": "same-recognition-model", "fixed": {"0.001": default}}}
    return {"datasets": {"lfw": {"recognition": {"dlib": {"quality": quality}, "fr_feature": {"quality": same}}}}}


def test_block_gives_the_default_against_the_references_with_verdicts_and_skips_its_label_model() -> None:
    block = render(_report(), {"dataset": "celeba-val", "chosen": "m"}, "m")
    assert block.startswith(BEGIN) and block.endswith(END)
    assert "| lfw | dlib | 0.800 [0.700, 0.900] | -0.010 [-0.050, +0.030] ≈ | — | -0.100 [-0.150, -0.050] ✔ |" in block
    assert "| lfw | fr_feature |" not in block  # the FR model behind the labels is not a cross-model comparison
    assert "| `face_size` | 0.900 |" in block and "`m`" in block


def test_replacing_keeps_the_text_around_the_block() -> None:
    readme = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    assert replaced(readme, f"{BEGIN}\nnew\n{END}") == f"intro\n{BEGIN}\nnew\n{END}\noutro\n"
