"""Quality methods, built from their model cards."""

from __future__ import annotations

from service.quality.base import QualityMethod
from service.quality.diffiqa import DifFIQAPerturbation
from service.quality.ifqa import IFQAMap
from service.quality.regressor import Regression
from service.registry import Registry
from service.settings import Settings


def build_methods(registry: Registry, settings: Settings) -> dict[str, QualityMethod]:
    """One object per quality card whose ``method`` this gateway implements."""
    methods: dict[str, QualityMethod] = {}
    for name in registry.quality_methods():
        card = registry[name]
        if card.method == "diffiqa_perturbation":
            methods[name] = DifFIQAPerturbation(
                card,
                registry[card.uses[0]],
                repeats=settings.diffiqa_repeats,
                timestep=settings.diffiqa_timestep,
                seed=settings.diffiqa_seed,
            )
        elif card.method == "regression":
            methods[name] = Regression(card)
        elif card.method == "ifqa_map":
            methods[name] = IFQAMap(card)
        else:
            raise ValueError(f"{name}: quality method {card.method!r} is not implemented by this gateway")
    return methods
