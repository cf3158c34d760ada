"""The contract every inference backend meets: load networks, run a batch, say whether it is ready."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Backend(Protocol):
    """Runs the ONNX networks named by model cards; shapes and dtypes are the cards'."""

    name: str

    async def load(self, names: list[str]) -> None:
        """Make the named networks ready (and check them against their cards)."""

    async def infer(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; every input and output carries the batch on axis 0."""

    async def ready(self) -> bool:
        """True when every loaded network can serve now."""

    def describe(self, name: str) -> dict[str, Any]:
        """What really runs a network (runtime, execution providers), for ``/v1/models``."""

    async def close(self) -> None:
        """Release sessions, connections and threads."""
