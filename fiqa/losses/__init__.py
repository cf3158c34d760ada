"""Training losses: LogExp feature constraint, margin-penalty softmax heads, embedding distillation."""

from fiqa.losses.logexp import logexp
from fiqa.losses.margin import MarginSoftmax, certainty_ratio

__all__ = ["MarginSoftmax", "certainty_ratio", "logexp"]
