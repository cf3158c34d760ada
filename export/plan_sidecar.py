"""What a TensorRT plan was built for (``model.plan.json`` beside ``model.plan``), and whether it suits the Triton
that will serve it.

A serialised engine runs only under the TensorRT release and on the GPU compute capability it was built with; anywhere
else Triton fails to load it. The engine builder writes this sidecar; the repository builder reads it and serves the
ONNX file kept beside the plan instead when anything differs or cannot be known.

Python 3.10 and the standard library only: it runs inside NGC's TensorRT container as well.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

SIDECAR_SUFFIX = ".json"


def sha256_of(path: Path) -> str:
    """The file's sha256 (streamed: engines and ONNX files can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(plan: Path) -> Path:
    return plan.with_name(plan.name + SIDECAR_SUFFIX)


def release(version: str) -> str:
    """major.minor.patch of a TensorRT version (10.5.0.18 -> 10.5.0): engines are tied to the release."""
    return ".".join(version.split(".")[:3])


@dataclass(frozen=True)
class PlanSidecar:
    """The build facts of one plan; ``profile`` maps each input to its [min, opt, max] shapes."""

    tensorrt_version: str
    compute_capability: str
    precision: str
    profile: dict[str, list[list[int]]]
    onnx_sha256: str

    def write(self, plan: Path) -> Path:
        path = sidecar_path(plan)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, plan: Path) -> PlanSidecar | None:
        """The plan's sidecar, or None when it has none; a malformed one raises ``ValueError``."""
        path = sidecar_path(plan)
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a plan sidecar: {error}") from None

    def max_batch(self) -> int:
        """The largest batch every input's profile accepts."""
        return min(corners[2][0] for corners in self.profile.values())


@dataclass(frozen=True)
class ServingTarget:
    """The TensorRT release and GPU compute capability of the Triton that will serve the plans (None: unknown)."""

    tensorrt_version: str | None
    compute_capability: str | None


def local_tensorrt_version() -> str | None:
    """The TensorRT Python package's version here, if it is installed."""
    try:
        import tensorrt
    except ImportError:
        return None
    return str(tensorrt.__version__)


def local_compute_capability() -> str | None:
    """Compute capability of GPU 0 (the device TensorRT builds for by default), from nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    done = subprocess.run(
        [smi, "--query-gpu=compute_cap", "--format=csv,noheader", "--id=0"], capture_output=True, text=True
    )
    answer = done.stdout.strip()
    return answer if done.returncode == 0 and answer else None


def mismatches(
    sidecar: PlanSidecar | None, target: ServingTarget, *, onnx_sha256: str, max_batch_size: int
) -> list[str]:
    """Why this plan must not be served (empty when it may): no sidecar, another ONNX file, a profile smaller than
    Triton's batches, or a TensorRT release / compute capability that differs from the target's or is unknown."""
    if sidecar is None:
        return ["the plan has no sidecar (model.plan.json): its TensorRT release and GPU are unknown"]
    reasons = []
    if sidecar.onnx_sha256 != onnx_sha256:
        reasons.append("the plan was built from another ONNX file than the card's")
    if max_batch_size and sidecar.max_batch() < max_batch_size:
        reasons.append(
            f"the plan's profile stops at batch {sidecar.max_batch()} < Triton max_batch_size {max_batch_size}"
        )
    if target.tensorrt_version is None:
        reasons.append("the serving TensorRT release is unknown here (set FIQA_EXPORT_TRT_TARGET_VERSION)")
    elif release(sidecar.tensorrt_version) != release(target.tensorrt_version):
        reasons.append(f"built with TensorRT {sidecar.tensorrt_version}, served by {target.tensorrt_version}")
    if target.compute_capability is None:
        reasons.append("the serving GPU is unknown here (set FIQA_EXPORT_TRT_TARGET_COMPUTE_CAPABILITY)")
    elif sidecar.compute_capability != target.compute_capability:
        reasons.append(
            f"built for compute capability {sidecar.compute_capability}, served on {target.compute_capability}"
        )
    return reasons
