"""Model cards -> a Triton model repository (``config.pbtxt`` + versioned model file + card per network).

Every card with a file becomes ``<repo>/<name>/config.pbtxt``, ``<repo>/<name>/1/model.onnx`` (a hard link
or copy of ``models/<name>/<file>``) and ``<repo>/<name>/card.yaml``. Tensor names, dtypes and dims come from
the ONNX file itself and must agree with the card. A TensorRT engine at ``<repo>/<name>/1/model.plan`` (written
by ``python -m export tensorrt``) switches that model to ``tensorrt_plan`` when its sidecar says it was built
from this ONNX file, for Triton's batch limit, and with the TensorRT release and GPU compute capability of the
serving Triton; otherwise the plan is refused and the model stays on the ONNX file, which is always kept beside it.

``python_twin=True`` writes the same repository for Triton's Python backend (the tests' stand-in where
Triton's onnxruntime and TensorRT backends cannot be installed): same names, dims, batch limit and dynamic
batching, with ``twin_model.py`` running onnxruntime on the same ONNX file.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from export.onnx_io import OnnxSignature, OnnxTensor, check_against_card, read_signature, tensorrt_risks
from export.plan_sidecar import (
    PlanSidecar,
    ServingTarget,
    local_compute_capability,
    local_tensorrt_version,
    mismatches,
    sha256_of,
)
from export.settings import ExportSettings
from service.registry import ModelCard, Registry

log = logging.getLogger(__name__)

VERSION = "1"
GENERATED_BY = "python -m export build-repository"
TWIN_MODEL = Path(__file__).with_name("twin_model.py")


@dataclass(frozen=True)
class BuiltModel:
    """What the builder wrote for one network."""

    name: str
    platform: str  # "onnxruntime_onnx", "tensorrt_plan" or "python"
    config_path: Path
    signature: OnnxSignature
    tensorrt_risks: dict[str, str]
    refused_plan: tuple[str, ...] = ()  # why a model.plan present is not served (the ONNX file is)


class PlanRefused(ValueError):
    """A plan does not suit the serving Triton (``--strict``: an error instead of the ONNX fallback)."""


def serving_target(settings: ExportSettings) -> ServingTarget:
    """The TensorRT release and compute capability plans must match: the settings, else what is installed here."""
    return ServingTarget(
        settings.trt_target_version or local_tensorrt_version(),
        settings.trt_target_compute_capability or local_compute_capability(),
    )


def _refusals(plan: Path, source: Path, signature: OnnxSignature, settings: ExportSettings) -> tuple[str, ...]:
    """Why ``plan`` must not be served (empty: it may)."""
    try:
        sidecar = PlanSidecar.read(plan)
    except ValueError as error:
        return (str(error),)
    max_batch_size = settings.max_batch_size if signature.batch_dynamic else 0
    target = serving_target(settings)
    return tuple(mismatches(sidecar, target, onnx_sha256=sha256_of(source), max_batch_size=max_batch_size))


def _add_tensors(repeated, tensors: tuple[OnnxTensor, ...], batched: bool) -> None:
    from tritonclient.grpc import model_config_pb2 as mc

    for tensor in tensors:
        repeated.add(
            name=tensor.name,
            data_type=mc.DataType.Value(tensor.triton_type),
            dims=list(tensor.dims[1:] if batched else tensor.dims),
        )


def model_config(
    card: ModelCard,
    signature: OnnxSignature,
    settings: ExportSettings,
    *,
    platform: str,
):
    """The Triton ``ModelConfig`` message of one network (``platform='python'`` for the Python-backend twin)."""
    from tritonclient.grpc import model_config_pb2 as mc

    config = mc.ModelConfig(name=card.name)
    if platform == "python":
        config.backend = "python"
    else:
        config.platform = platform
        config.default_model_filename = "model.plan" if platform == "tensorrt_plan" else "model.onnx"
    batched = signature.batch_dynamic
    if batched:
        config.max_batch_size = settings.max_batch_size
        config.dynamic_batching.preferred_batch_size.extend(settings.preferred_batch_sizes)
        config.dynamic_batching.max_queue_delay_microseconds = settings.max_queue_delay_us
    else:  # a fixed leading axis: Triton must not add a batch dimension of its own
        config.max_batch_size = 0
    _add_tensors(config.input, signature.inputs, batched)
    _add_tensors(config.output, signature.outputs, batched)
    # The twin runs onnxruntime on CPU threads wherever Triton runs; the real models follow the setting.
    kind = "KIND_CPU" if platform == "python" else settings.instance_kind
    config.instance_group.add(kind=mc.ModelInstanceGroup.Kind.Value(kind), count=settings.instance_count)
    config.version_policy.latest.num_versions = 1
    config.parameters["card_version"].string_value = card.version
    config.parameters["generated_by"].string_value = GENERATED_BY
    return config


def render(config) -> str:
    from google.protobuf import text_format

    header = f"# Generated by `{GENERATED_BY}` from models/{config.name}/card.yaml: edit the card, not this file.\n"
    return header + text_format.MessageToString(config)


def parse_config(text: str):
    """Parse a ``config.pbtxt`` back into a ``ModelConfig`` (raises on anything Triton would reject as syntax)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    return text_format.Parse(text, mc.ModelConfig())


def _place(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (copy across file systems); keep an identical existing file."""
    if target.exists():
        if os.path.samefile(source, target) or sha256_of(source) == sha256_of(target):
            return
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def build_model(
    registry: Registry,
    name: str,
    out_dir: Path,
    settings: ExportSettings,
    *,
    python_twin: bool = False,
    strict: bool = False,
) -> BuiltModel:
    """Write one network's folder; raises ``CardMismatch`` when its ONNX file and card disagree, ``PlanRefused``
    when ``strict`` and its plan does not suit the serving Triton."""
    card = registry[name]
    source = registry.file_of(name)
    if not source.exists():
        raise FileNotFoundError(f"{source} is missing: run `make models` (or export the model) first")
    registry.read_verified(name)  # Triton serves the bytes the card's checksum names, or the build stops here
    signature = read_signature(source)
    check_against_card(card, signature)
    folder = out_dir / name
    version_dir = folder / VERSION
    version_dir.mkdir(parents=True, exist_ok=True)
    _place(source, version_dir / "model.onnx")  # beside a plan too: the fallback when the plan is refused
    plan = version_dir / "model.plan"
    refused: tuple[str, ...] = ()
    if python_twin:
        platform = "python"
        _write_if_changed(version_dir / "model.py", TWIN_MODEL.read_text())
    elif plan.exists() and not (refused := _refusals(plan, source, signature, settings)):
        platform = "tensorrt_plan"
    else:
        platform = "onnxruntime_onnx"
    if refused:
        if strict:
            raise PlanRefused(f"{name}: {plan} is not served: {'; '.join(refused)}")
        log.warning("%s: serving model.onnx, not %s: %s", name, plan, "; ".join(refused))
    config = model_config(card, signature, settings, platform=platform)
    config_path = folder / "config.pbtxt"
    _write_if_changed(config_path, render(config))
    _write_if_changed(folder / "card.yaml", (registry.models_dir / name / "card.yaml").read_text())
    return BuiltModel(name, platform, config_path, signature, tensorrt_risks(signature), refused)


def networks_of(registry: Registry) -> list[str]:
    """Cards that ship a network file (quality methods without one run on other networks)."""
    return [name for name, card in registry.cards.items() if card.file]


def _prune(out_dir: Path, keep: set[str], cards: set[str]) -> list[str]:
    """Remove folders this builder generated for networks that no longer have a card."""
    removed = []
    for config_path in sorted(out_dir.glob("*/config.pbtxt")):
        folder = config_path.parent
        if folder.name not in keep and folder.name not in cards and GENERATED_BY in config_path.read_text():
            shutil.rmtree(folder)
            removed.append(folder.name)
    return removed


def build_repository(
    settings: ExportSettings | None = None,
    *,
    out_dir: Path | None = None,
    names: list[str] | None = None,
    python_twin: bool = False,
    strict: bool = False,
) -> list[BuiltModel]:
    """Build (or refresh) the repository for ``names`` (default: every card with a file).

    A card whose file does not exist yet (a model still being trained or not fetched) is skipped with a
    warning, unless ``strict`` or the caller named it explicitly. A plan that does not suit the serving Triton is
    refused (the model served from its ONNX file) with a warning; ``strict`` makes that an error too.
    """
    settings = settings or ExportSettings()
    registry = Registry(settings.models_dir)
    out_dir = Path(out_dir or settings.repository_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    selected = names or networks_of(registry)
    if names is None and not strict:
        absent = [name for name in selected if not registry.file_of(name).exists()]
        for name in absent:
            log.warning("%s: %s does not exist yet; not in the repository", name, registry.file_of(name))
        selected = [name for name in selected if name not in absent]
    built = [
        build_model(registry, name, out_dir, settings, python_twin=python_twin, strict=strict) for name in selected
    ]
    if names is None:
        for name in _prune(out_dir, set(selected), set(registry.cards)):
            log.info("removed %s: its card is gone", name)
    return built
