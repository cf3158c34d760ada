"""The cost benchmark runs every served quality method through the gateway's sessions and compares with diffiqa."""

from __future__ import annotations

import pytest

from loadtests.bench_models import RawModels
from loadtests.bench_quality import REFERENCE, measure
from service.runtime import Runtime


@pytest.mark.slow
def test_every_quality_method_gets_a_time_per_face_and_a_share_of_diffiqas() -> None:
    raw = RawModels(Runtime.from_env(backend="onnxruntime", ort_intra_op_threads=1))
    rows = {row["method"]: row for row in measure(raw, rounds=1, repeats=2, batches=(1, 2))}
    assert set(rows) == set(raw.runtime.methods) and REFERENCE in rows
    assert rows[REFERENCE]["share of diffiqa b1"] == "1/1.0" and rows[REFERENCE]["M multiply-adds"] == 2211.6
    for name, row in rows.items():
        assert row["ms/face b1"] > 0 and row["ms/face b2"] > 0, name
    # a regressor's own ONNX graph is counted: one pass, a fraction of diffiqa's
    assert 0 < rows["diffiqa_r"]["M multiply-adds"] < rows[REFERENCE]["M multiply-adds"] / 20
