"""torch -> ONNX: dynamic batch, checker, parity with PyTorch, TensorRT notes (InstanceNormalization)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from export.onnx_export import ParityError, export_onnx  # noqa: E402
from export.onnx_io import read_signature  # noqa: E402


class _TinyQuality(torch.nn.Module):
    """Conv + InstanceNorm (the op IFQA uses) + pooling head: a stand-in for a trained quality network."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.InstanceNorm2d(8, affine=True)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, image):
        return self.head(torch.relu(self.norm(self.conv(image))).mean((2, 3)))


class _Noisy(torch.nn.Module):
    """Draws fresh noise on every call: PyTorch and onnxruntime can never agree on it."""

    def forward(self, image):
        return image + torch.rand_like(image)


def test_export_has_dynamic_batch_and_matches_torch(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    path = tmp_path / "tiny.onnx"
    report = export_onnx(_TinyQuality(), torch.rand(1, 3, 32, 32), path, ["image"], ["quality"])
    assert report.max_abs_diff < 1e-5 and report.parity_batch == 3  # exported on 2 rows, checked on 3
    assert "InstanceNormalization" in report.tensorrt_risks
    assert not list(tmp_path.glob("*.data"))  # weights inside the one file
    signature = read_signature(path)
    assert [t.name for t in signature.inputs] == ["image"] and signature.batch_dynamic
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).random((7, 3, 32, 32), dtype=np.float32)
    (out,) = session.run(["quality"], {"image": batch})
    with torch.no_grad():
        expected = _TinyQuality()(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_parity_failure_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ParityError, match="max abs diff"):
        export_onnx(_Noisy(), torch.rand(2, 3, 8, 8), tmp_path / "noisy.onnx", ["image"], ["noisy"])


@pytest.mark.slow
def test_cli_exports_a_factory_module(tmp_path: Path) -> None:
    (tmp_path / "tiny_factory.py").write_text(
        textwrap.dedent(
            """
            import torch

            def build(checkpoint):
                torch.manual_seed(0)
                model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
                if checkpoint:
                    model.load_state_dict(torch.load(checkpoint))
                return model
            """
        )
    )
    out = tmp_path / "out.onnx"
    done = subprocess.run(
        [sys.executable, "-m", "export", "onnx", "--factory", "tiny_factory:build", "--out", str(out),
         "--input-shape", "1,3,16,16", "--input-names", "x", "--output-names", "y"],
        env={**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "parity on batch 3" in done.stdout
    assert read_signature(out).batch_dynamic
