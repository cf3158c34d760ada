"""ONNX -> TensorRT engine (``<repo>/<name>/1/model.plan`` + its sidecar) through the TensorRT Python API or
``trtexec``, one model at a time, going on past a model that fails.

Where neither is installed (this CPU development host) ``TensorRTUnavailable`` is raised and the CLI exits
non-zero: an engine is only ever what TensorRT itself serialised. Engines are specific to the GPU model and
the TensorRT version, so build them inside the same NGC release as the Triton that serves them; every plan gets
a sidecar (``model.plan.json``: TensorRT version, compute capability, precision, profile, ONNX checksum) that the
repository builder checks before it serves the plan. A graph with a node TensorRT's parser cannot take
(``export.onnx_io.TENSORRT_PARSER_LIMITS``) is not built at all: it stays on ONNX Runtime.

Normalisation layers (InstanceNormalization in IFQA's generator, Group/LayerNormalization) are pinned to FP32
when building FP16/INT8 engines: their variance overflows or loses precision in half precision.

Python 3.10 with numpy and onnx only (no gateway import), so that it runs inside NGC's TensorRT container:
``python3 -m export.tensorrt model_repository`` builds an engine beside every ``<name>/1/model.onnx``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

from export.onnx_io import OnnxSignature, read_signature, tensorrt_parser_limits
from export.plan_sidecar import PlanSidecar, local_compute_capability, local_tensorrt_version, sha256_of

log = logging.getLogger(__name__)

NORM_OPS = frozenset({"InstanceNormalization", "GroupNormalization", "LayerNormalization"})


class TensorRTUnavailable(RuntimeError):
    """Neither the ``tensorrt`` Python package nor ``trtexec`` is installed here."""


class EngineBuildFailed(RuntimeError):
    """TensorRT ran but produced no engine (parse error, unsupported op, out of memory...)."""


Shape = tuple[int, ...]
Precision = Literal["fp16", "fp32", "int8"]


@dataclass(frozen=True)
class EngineOptions:
    """Precision, optimisation profile and workspace of the engines (``ExportSettings.engine_options()``; the
    defaults are those of the FIQA_EXPORT_TRT_* settings and of the gateway's batch limit)."""

    precision: Precision = "fp16"
    min_batch: int = 1
    opt_batch: int = 16
    max_batch: int = 64
    # Spatial axes that are dynamic in the ONNX (the detector's H and W)
    min_side: int = 32
    opt_side: int = 640
    max_side: int = 640
    workspace_mib: int = 4096


@dataclass(frozen=True)
class Profile:
    """min / opt / max shape of each input (one optimisation profile)."""

    shapes: dict[str, tuple[Shape, Shape, Shape]]


@dataclass(frozen=True)
class EngineOutcome:
    """What the step did for one model: an engine built, the model kept on ONNX Runtime, or a failed build."""

    name: str
    status: Literal["built", "kept_onnx", "failed"]
    detail: str


def profile_for(signature: OnnxSignature, options: EngineOptions) -> Profile:
    """Batch axis from the *_batch options, other dynamic axes from *_side, fixed axes as they are."""
    shapes = {}
    for tensor in signature.inputs:
        corners = []
        for batch, side in (
            (options.min_batch, options.min_side),
            (options.opt_batch, options.opt_side),
            (options.max_batch, options.max_side),
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


def _trtexec_reports(output: str, label: str) -> str | None:
    """A value trtexec logs about itself, e.g. ``[I] TensorRT version: 10.5.0`` or ``[I] Compute Capability: 8.9``."""
    found = re.search(rf"{label}:\s*(\S+)", output)
    return found.group(1) if found else None


def require_tensorrt() -> None:
    """Raise ``TensorRTUnavailable`` unless the TensorRT Python package or ``trtexec`` is here."""
    if importlib.util.find_spec("tensorrt") is None and shutil.which("trtexec") is None:
        raise TensorRTUnavailable(
            "TensorRT is not installed here (no `tensorrt` Python package, no `trtexec` on PATH). Build engines "
            "inside the NGC TensorRT or Triton container of the same release as the serving Triton; the "
            "repository keeps serving the ONNX models (platform onnxruntime_onnx) meanwhile."
        )


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    options: EngineOptions,
    *,
    calibration: np.ndarray | None = None,
) -> PlanSidecar:
    """Build ``plan_path`` from ``onnx_path`` and write its sidecar; raises ``TensorRTUnavailable`` where TensorRT
    is not installed, ``EngineBuildFailed`` when TensorRT makes no engine."""
    require_tensorrt()
    profile = profile_for(read_signature(onnx_path), options)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    partial = plan_path.with_suffix(".plan.partial")
    cache = plan_path.with_suffix(".calib")
    version, capability = local_tensorrt_version(), local_compute_capability()
    has_python_api = version is not None
    try:
        if has_python_api:
            _build_with_python_api(
                onnx_path, partial, profile, options.precision, options.workspace_mib, calibration, cache
            )
        else:
            command = trtexec_command(
                str(shutil.which("trtexec")),
                onnx_path,
                partial,
                profile,
                options.precision,
                options.workspace_mib,
                calibration_cache=cache,
                fp32_layers=norm_node_names(onnx_path),
            )
            log.info("running %s", " ".join(command))
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise EngineBuildFailed(
                    f"trtexec failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
                )
            version = _trtexec_reports(done.stdout, "TensorRT version")
            capability = capability or _trtexec_reports(done.stdout, "Compute Capability")
        if not partial.exists() or partial.stat().st_size == 0:
            raise EngineBuildFailed(f"TensorRT reported success but wrote no engine for {onnx_path}")
        partial.replace(plan_path)  # only a complete engine ever carries the name Triton loads
    finally:
        partial.unlink(missing_ok=True)
    sidecar = PlanSidecar(
        tensorrt_version=version or "unknown",
        compute_capability=capability or "unknown",
        precision=options.precision,
        profile={name: [list(shape) for shape in corners] for name, corners in profile.shapes.items()},
        onnx_sha256=sha256_of(onnx_path),
    )
    sidecar.write(plan_path)
    return sidecar


def build_engines(
    models: dict[str, tuple[Path, Path]], options: EngineOptions, *, calibration: np.ndarray | None = None
) -> list[EngineOutcome]:
    """Build each model's engine (name -> (ONNX, plan)): a graph TensorRT's parser cannot take is kept on ONNX
    Runtime unbuilt, a failed build is reported and the next model goes on. ``TensorRTUnavailable`` up front."""
    require_tensorrt()
    outcomes = []
    for name, (onnx_path, plan_path) in models.items():
        limits = tensorrt_parser_limits(onnx_path)
        if limits:
            outcomes.append(EngineOutcome(name, "kept_onnx", "; ".join(limits)))
            continue
        try:
            sidecar = build_engine(onnx_path, plan_path, options, calibration=calibration)
        except EngineBuildFailed as error:
            outcomes.append(EngineOutcome(name, "failed", str(error)))
            continue
        detail = (
            f"{options.precision} engine {plan_path} ({plan_path.stat().st_size} bytes, TensorRT "
            f"{sidecar.tensorrt_version}, compute capability {sidecar.compute_capability})"
        )
        outcomes.append(EngineOutcome(name, "built", detail))
    return outcomes


_REPORTED_AS = {"built": "", "kept_onnx": "kept on onnxruntime_onnx: ", "failed": "error: no engine built: "}


def report(outcomes: list[EngineOutcome]) -> int:
    """Print one line per model and a summary; the exit status is 4 when any build failed."""
    for outcome in outcomes:
        stream = sys.stderr if outcome.status == "failed" else sys.stdout
        print(f"{outcome.name}: {_REPORTED_AS[outcome.status]}{outcome.detail}", file=stream)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("built", "kept_onnx", "failed")}
    print(
        f"{counts['built']} engine(s) built, {counts['kept_onnx']} model(s) kept on ONNX Runtime (parser limits), "
        f"{counts['failed']} failed"
    )
    return 4 if counts["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    """Engines for a built repository, where only TensorRT, numpy and onnx are installed (NGC's TensorRT
    container): a plan and its sidecar beside every ``<name>/1/model.onnx``."""
    defaults = EngineOptions()
    parser = argparse.ArgumentParser(prog="python3 -m export.tensorrt", description=main.__doc__)
    parser.add_argument("repository", type=Path, help="a repository written by `python -m export build-repository`")
    parser.add_argument("--names", help="comma-separated models (default: every model with a model.onnx)")
    parser.add_argument("--precision", choices=["fp16", "fp32"], default=defaults.precision)
    for corner in ("min", "opt", "max"):
        parser.add_argument(f"--{corner}-batch", type=int, default=getattr(defaults, f"{corner}_batch"))
        parser.add_argument(f"--{corner}-side", type=int, default=getattr(defaults, f"{corner}_side"))
    parser.add_argument("--workspace-mib", type=int, default=defaults.workspace_mib)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = EngineOptions(
        args.precision, args.min_batch, args.opt_batch, args.max_batch, args.min_side, args.opt_side, args.max_side,
        args.workspace_mib,
    )  # fmt: skip
    wanted = set(args.names.split(",")) if args.names else None
    models = {
        onnx_path.parents[1].name: (onnx_path, onnx_path.with_name("model.plan"))
        for onnx_path in sorted(args.repository.glob("*/*/model.onnx"))
        if wanted is None or onnx_path.parents[1].name in wanted
    }
    try:
        return report(build_engines(models, options))
    except TensorRTUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
