"""Quality methods, built from their model cards: the card's ``method`` picks the class, the card gives the rest.

Adding a model of a known method is adding its card and file; adding a method is one module and one entry here.
"""

from __future__ import annotations

import logging

from service.quality.base import QualityMethod
from service.quality.diffiqa import DifFIQAPerturbation
from service.quality.ifqa import IFQAMap
from service.quality.regressor import Regression
from service.registry import CardError, Registry

log = logging.getLogger(__name__)

METHODS: dict[str, type[QualityMethod]] = {cls.method: cls for cls in (Regression, DifFIQAPerturbation, IFQAMap)}


def build_method(registry: Registry, name: str) -> QualityMethod:
    """The method object for one quality card. Raises ``CardError`` when this gateway cannot serve the card."""
    card = registry[name]
    cls = METHODS.get(card.method or "")
    if cls is None:
        raise CardError(f"{name}: quality method {card.method!r} is not one of {sorted(METHODS)}")
    return cls(card, registry)


def build_methods(registry: Registry, required: list[str]) -> dict[str, QualityMethod]:
    """One object per quality card this gateway can serve. A card it cannot serve stops start-up when the model is
    ``required`` (a default model), and is otherwise left out with a warning, as a missing file is."""
    methods: dict[str, QualityMethod] = {}
    for name in registry.quality_methods():
        try:
            methods[name] = build_method(registry, name)
        except CardError as error:
            if name in required:
                raise
            log.warning("quality model %s left out: %s", name, error)
    return methods
