"""The runtime every offline command builds (data preparation, labels, training, evaluation, calibration): the
gateway's composition root with the reference detector path.

Serving defaults to the cheap two-pass detector (``detector_mode=fast``), which on photos longer than its coarse side
places landmarks a few pixels apart from the full path. Every published model, label, threshold and figure was made
with the full path, and ``loadtests/bench_detector``'s rule holds the fast path to it; offline work keeps the
reference, so that a recorded command reproduces its figures whatever the serving default becomes.
"""

from __future__ import annotations

from typing import Any

from service.runtime import Runtime

REFERENCE: dict[str, Any] = {"detector_mode": "full"}


def offline_runtime(**overrides: Any) -> Runtime:
    """``Runtime.from_env`` with the reference detector path (an explicit ``detector_mode`` override still wins).
    An offline command's ``ort_intra_op_threads`` sets the quality networks' threads too: it runs batches, not the
    single requests the gateway's split (``ort_quality_intra_op_threads``) was chosen for."""
    if "ort_intra_op_threads" in overrides:
        overrides = {"ort_quality_intra_op_threads": overrides["ort_intra_op_threads"]} | overrides
    return Runtime.from_env(**(REFERENCE | overrides))


def served_runtime(**overrides: Any) -> Runtime:
    """``Runtime.from_env`` as the gateway serves (its settings' detector path): only for a command that compares the
    served path with the reference (``python -m fiqa detector-validity``)."""
    return Runtime.from_env(**overrides)
