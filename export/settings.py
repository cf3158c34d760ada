"""Export and repository settings (env prefix ``FIQA_EXPORT_``), kept apart from the gateway's settings.

The batch limit defaults to the gateway's own ``FIQA_MAX_BATCH_SIZE``: the gateway's micro-batches must fit
what Triton accepts, and the Triton backend refuses to start when they would not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.settings import REPO_ROOT, Settings


def _gateway_max_batch() -> int:
    return Settings().max_batch_size


class ExportSettings(BaseSettings):
    """Repository layout, Triton batching and TensorRT optimisation-profile knobs."""

    model_config = SettingsConfigDict(env_prefix="FIQA_EXPORT_", extra="ignore")

    models_dir: Path = Field(default_factory=lambda: Settings().models_dir)
    repository_dir: Path = REPO_ROOT / "model_repository"

    # Triton scheduling
    max_batch_size: int = Field(default_factory=_gateway_max_batch, ge=1)
    preferred_batch_sizes: list[int] = [16, 64]
    max_queue_delay_us: int = Field(2000, ge=0)
    instance_kind: Literal["KIND_GPU", "KIND_CPU"] = "KIND_GPU"
    instance_count: int = Field(1, ge=1)

    # TensorRT
    trt_precision: Literal["fp16", "fp32", "int8"] = "fp16"
    trt_min_batch: int = Field(1, ge=1)
    trt_opt_batch: int = Field(16, ge=1)
    trt_max_batch: int = Field(default_factory=_gateway_max_batch, ge=1)
    # Spatial axes that are dynamic in the ONNX (the detector's H and W): the gateway letterboxes frames to
    # multiples of 32 with the long side at most FIQA_DET_MAX_SIDE (640).
    trt_min_side: int = 32
    trt_opt_side: int = 640
    trt_max_side: int = 640
    trt_workspace_mib: int = 4096

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
