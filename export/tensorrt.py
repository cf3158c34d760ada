"""ONNX -> TensorRT engine (``<repo>/<name>/1/model.plan``) through the TensorRT Python API or ``trtexec``.

Where neither is installed (this CPU development host) ``TensorRTUnavailable`` is raised and the CLI exits
non-zero: an engine is only ever what TensorRT itself serialised. Engines are specific to the GPU model and
the TensorRT version, so build them inside the same NGC release as the Triton that serves them.

Normalisation layers (InstanceNormalization in IFQA's generator, Group/LayerNormalization) are pinned to FP32
when building FP16/INT8 engines: their variance overflows or loses precision in half precision.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from export.onnx_io import OnnxSignature, read_signature
from export.settings import ExportSettings

log = logging.getLogger(__name__)

NORM_OPS = frozenset({"InstanceNormalization", "GroupNormalization", "LayerNormalization"})


class TensorRTUnavailable(RuntimeError):
    """Neither the ``tensorrt`` Python package nor ``trtexec`` is installed here."""


class EngineBuildFailed(RuntimeError):
    """TensorRT ran but produced no engine (parse error, unsupported op, out of memory...)."""


Shape = tuple[int, ...]


@dataclass(frozen=True)
class Profile:
    """min / opt / max shape of each input (one optimisation profile)."""

    shapes: dict[str, tuple[Shape, Shape, Shape]]


def profile_for(signature: OnnxSignature, settings: ExportSettings) -> Profile:
    """Batch axis from the trt_*_batch settings, other dynamic axes from trt_*_side, fixed axes as they are."""
    shapes = {}
    for tensor in signature.inputs:
        corners = []
        for batch, side in (
            (settings.trt_min_batch, settings.trt_min_side),
            (settings.trt_opt_batch, settings.trt_opt_side),
            (settings.trt_max_batch, settings.trt_max_side),
        ):
            dims = [(batch if axis == 0 else side) if dim == -1 else dim for axis, dim in enumerate(tensor.dims)]
            corners.append(tuple(dims))
        shapes[tensor.name] = (corners[0], corners[1], corners[2])
    return Profile(shapes)


def norm_node_names(onnx_path: Path) -> list[str]:
    """Names of the ONNX normalisation nodes (TensorRT names its layers after them)."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    return [node.name for node in model.graph.node if node.op_type in NORM_OPS and node.name]


def trtexec_command(
    trtexec: str,
    onnx_path: Path,
    plan_path: Path,
    profile: Profile,
    precision: str,
    workspace_mib: int,
    calibration_cache: Path | None = None,
    fp32_layers: list[str] | None = None,
) -> list[str]:
    """The ``trtexec`` invocation for one engine (INT8 needs a calibration cache made by the Python API)."""

    def spec(index: int) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, corners[index]))}" for name, corners in profile.shapes.items())

    command = [
        trtexec,
        f"--onnx={onnx_path}",
        f"--saveEngine={plan_path}",
        f"--minShapes={spec(0)}",
        f"--optShapes={spec(1)}",
        f"--maxShapes={spec(2)}",
        f"--memPoolSize=workspace:{workspace_mib}M",
        "--skipInference",
    ]
    if precision in ("fp16", "int8"):
        command.append("--fp16")
    if precision == "int8":
        if calibration_cache is None or not calibration_cache.exists():
            raise EngineBuildFailed("trtexec builds INT8 only from a calibration cache: build with the Python API")
        command += ["--int8", f"--calib={calibration_cache}"]
    if precision != "fp32" and fp32_layers:
        command += ["--precisionConstraints=obey", "--layerPrecisions=" + ",".join(f"{n}:fp32" for n in fp32_layers)]
    return command


def _calibrator(trt, data: np.ndarray, batch: int, cache: Path):
    """An entropy calibrator feeding ``data`` (N, ...) of preprocessed network inputs from GPU memory."""
    import torch

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.index = 0
            self.device = None

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names):  # one input: the profile has one
            if self.index + batch > len(data):
                return None
            self.device = torch.from_numpy(np.ascontiguousarray(data[self.index : self.index + batch])).cuda()
            self.index += batch
            return [int(self.device.data_ptr())]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.exists() else None

        def write_calibration_cache(self, blob) -> None:
            cache.write_bytes(bytes(blob))

    return Calibrator()


def _build_with_python_api(
    onnx_path: Path,
    plan_path: Path,
    profile: Profile,
    precision: str,
    workspace_mib: int,
    calibration: np.ndarray | None,
    cache: Path,
) -> None:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT < 10 needs it spelled out
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildFailed(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    trt_profile = builder.create_optimization_profile()
    for name, (low, opt, high) in profile.shapes.items():
        trt_profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(trt_profile)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
        pinned = 0
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            if layer.type == trt.LayerType.NORMALIZATION:
                layer.precision = trt.float32
                for output in range(layer.num_outputs):
                    layer.set_output_type(output, trt.float32)
                pinned += 1
        if pinned:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
            log.info("%s: %d normalisation layers pinned to FP32", onnx_path, pinned)
    if precision == "int8":
        if calibration is None:
            raise EngineBuildFailed("INT8 needs --calibration-data (an .npy of preprocessed network inputs)")
        if len(profile.shapes) != 1:
            raise EngineBuildFailed("INT8 calibration here supports single-input networks only")
        config.set_flag(trt.BuilderFlag.INT8)
        ((_, corners),) = profile.shapes.items()
        config.int8_calibrator = _calibrator(trt, calibration.astype(np.float32), corners[1][0], cache)
        config.set_calibration_profile(trt_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildFailed(f"TensorRT returned no engine for {onnx_path} (see its log above)")
    plan_path.write_bytes(bytes(serialized))


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    settings: ExportSettings,
    *,
    calibration: np.ndarray | None = None,
) -> Path:
    """Build ``plan_path`` from ``onnx_path``; raises ``TensorRTUnavailable`` where TensorRT is not installed."""
    signature = read_signature(onnx_path)
    profile = profile_for(signature, settings)
    precision = settings.trt_precision
    has_python_api = importlib.util.find_spec("tensorrt") is not None
    trtexec = shutil.which("trtexec")
    if not has_python_api and trtexec is None:
        raise TensorRTUnavailable(
            "TensorRT is not installed here (no `tensorrt` Python package, no `trtexec` on PATH). Build engines "
            "inside the NGC TensorRT or Triton container of the same release as the serving Triton; the "
            "repository keeps serving the ONNX models (platform onnxruntime_onnx) meanwhile."
        )
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    partial = plan_path.with_suffix(".plan.partial")
    cache = plan_path.with_suffix(".calib")
    try:
        if has_python_api:
            _build_with_python_api(
                onnx_path, partial, profile, precision, settings.trt_workspace_mib, calibration, cache
            )
        else:
            command = trtexec_command(
                trtexec,
                onnx_path,
                partial,
                profile,
                precision,
                settings.trt_workspace_mib,
                calibration_cache=cache,
                fp32_layers=norm_node_names(onnx_path),
            )
            log.info("running %s", " ".join(command))
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise EngineBuildFailed(
                    f"trtexec failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
                )
        if not partial.exists() or partial.stat().st_size == 0:
            raise EngineBuildFailed(f"TensorRT reported success but wrote no engine for {onnx_path}")
        partial.replace(plan_path)  # only a complete engine ever carries the name Triton loads
    finally:
        partial.unlink(missing_ok=True)
    return plan_path
