"""Prometheus collectors, declared once here and used by the stages that do the work."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("fiqa_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
REQUEST_LATENCY = Histogram(
    "fiqa_http_request_duration_seconds", "HTTP request latency", ["route", "status"], buckets=_LATENCY_BUCKETS
)
STAGE_LATENCY = Histogram(
    "fiqa_stage_duration_seconds", "Time per pipeline stage per request", ["stage"], buckets=_LATENCY_BUCKETS
)
MODEL_LATENCY = Histogram(
    "fiqa_model_inference_duration_seconds", "Time of one batched inference call", ["model"], buckets=_LATENCY_BUCKETS
)
BATCH_SIZE = Histogram(
    "fiqa_batch_size", "Rows per batched inference call", ["model"], buckets=(1, 2, 4, 8, 16, 24, 32, 48, 64, 128, 256)
)
QUEUE_DEPTH = Gauge("fiqa_queue_rows", "Rows waiting in a model's micro-batch queue", ["model"])
IMAGES = Counter("fiqa_images_total", "Images processed, by outcome", ["status"])
FACES_PER_IMAGE = Histogram(
    "fiqa_faces_per_image", "Faces detected per decoded image", buckets=(0, 1, 2, 3, 5, 10, 20, 50)
)
DECISIONS = Counter("fiqa_decisions_total", "Per-face decisions and their reasons", ["decision", "reason"])
IMAGE_DECISIONS = Counter(
    "fiqa_image_decisions_total", "Per-image (capture) decisions and their reasons", ["decision", "reason"]
)
QUALITY_SCORE = Histogram(
    "fiqa_quality_score",
    "Quality scores (0..100) per model, for drift monitoring",
    ["model"],
    buckets=tuple(range(0, 101, 5)),
)
REJECTED = Counter("fiqa_rejected_requests_total", "Requests refused before scoring", ["reason"])
# Refusals by access control (401: missing_api_key, invalid_api_key) and rate limits (429: rate_limited), apart
# from REJECTED: those are load shedding (503) and page through FiqaLoadShedding, a client with a wrong key is not.
DENIED = Counter("fiqa_denied_requests_total", "Requests refused by API-key checks or rate limits", ["reason"])
