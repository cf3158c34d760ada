"""Python client of the FIQA gateway: ``Client`` and ``AsyncClient`` send files, paths, bytes or numpy arrays to
``/score`` and ``/select`` and return the gateway's own response models (``fiqa_client.models``, generated from its
OpenAPI document); 503 and 429 answers are retried as their ``Retry-After`` says, within a bounded number of
attempts and a total deadline."""

from fiqa_client.client import AsyncClient, Client, FiqaError
from fiqa_client.models import ScoreOptions, ScoreResponse, SelectOptions, SelectResponse
from fiqa_client.retry import Retry

__all__ = [
    "AsyncClient",
    "Client",
    "FiqaError",
    "Retry",
    "ScoreOptions",
    "ScoreResponse",
    "SelectOptions",
    "SelectResponse",
]
