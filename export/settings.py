"""Export and repository settings (env prefix ``FIQA_EXPORT_``), kept apart from the gateway's settings.

The batch limit defaults to the gateway's own ``FIQA_MAX_BATCH_SIZE``: the gateway's micro-batches must fit
what Triton accepts, and the Triton backend refuses to start when they would not. The gateway's settings are read
the one way the project builds them, ``Runtime.from_env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from export.tensorrt import EngineOptions, Precision
from service.runtime import Runtime
from service.settings import REPO_ROOT

# export knob -> the gateway setting it defaults to
GATEWAY_DEFAULTS = {"models_dir": "models_dir", "max_batch_size": "max_batch_size", "trt_max_batch": "max_batch_size"}


class ExportSettings(BaseSettings):
    """Repository layout, Triton batching and TensorRT optimisation-profile knobs."""

    model_config = SettingsConfigDict(env_prefix="FIQA_EXPORT_", extra="ignore")

    models_dir: Path
    repository_dir: Path = REPO_ROOT / "model_repository"

    # Triton scheduling
    max_batch_size: int = Field(ge=1)
    preferred_batch_sizes: list[int] = [16, 64]
    max_queue_delay_us: int = Field(2000, ge=0)
    instance_kind: Literal["KIND_GPU", "KIND_CPU"] = "KIND_GPU"
    instance_count: int = Field(1, ge=1)

    # TensorRT (defaults from EngineOptions, which the standalone `python3 -m export.tensorrt` uses too)
    trt_precision: Precision = EngineOptions.precision
    trt_min_batch: int = Field(EngineOptions.min_batch, ge=1)
    trt_opt_batch: int = Field(EngineOptions.opt_batch, ge=1)
    trt_max_batch: int = Field(ge=1)
    # Spatial axes that are dynamic in the ONNX (the detector's H and W): the gateway letterboxes frames to
    # multiples of 32 with the long side at most FIQA_DET_MAX_SIDE (640).
    trt_min_side: int = EngineOptions.min_side
    trt_opt_side: int = EngineOptions.opt_side
    trt_max_side: int = EngineOptions.max_side
    trt_workspace_mib: int = EngineOptions.workspace_mib
    # The Triton that will serve the plans (its TensorRT release, e.g. 10.5.0, and its GPUs' compute capability,
    # e.g. 8.9): a plan whose sidecar names others is not served. Default: what is installed here, if anything.
    trt_target_version: str | None = None
    trt_target_compute_capability: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _gateway_defaults(cls, values: Any) -> Any:
        """Fill the knobs neither given nor set in the environment from the gateway's settings."""
        missing = [key for key in GATEWAY_DEFAULTS if isinstance(values, dict) and values.get(key) is None]
        if missing:
            gateway = Runtime.from_env().settings
            values = {**values, **{key: getattr(gateway, GATEWAY_DEFAULTS[key]) for key in missing}}
        return values

    def engine_options(self) -> EngineOptions:
        return EngineOptions(
            precision=self.trt_precision,
            min_batch=self.trt_min_batch,
            opt_batch=self.trt_opt_batch,
            max_batch=self.trt_max_batch,
            min_side=self.trt_min_side,
            opt_side=self.trt_opt_side,
            max_side=self.trt_max_side,
            workspace_mib=self.trt_workspace_mib,
        )

    @model_validator(mode="after")
    def _consistent(self) -> ExportSettings:
        self.preferred_batch_sizes = sorted(
            {size for size in self.preferred_batch_sizes if size <= self.max_batch_size}
        )
        if not self.trt_min_batch <= self.trt_opt_batch <= self.trt_max_batch:
            raise ValueError("TensorRT profile needs min <= opt <= max batch")
        if not self.trt_min_side <= self.trt_opt_side <= self.trt_max_side:
            raise ValueError("TensorRT profile needs min <= opt <= max side")
        return self
