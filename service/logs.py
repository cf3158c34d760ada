"""Structured JSON logs: one object per line, and one access line per request carrying its request id.

Why JSON: log shippers (Loki, Elasticsearch, Cloud Logging) index the fields as they are, so operators can
filter by ``request_id`` (echoed to the client in ``X-Request-ID``), route, status or decision.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

ACCESS = logging.getLogger("service.access")

# LogRecord attributes that are not extra fields given by the caller.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """A log record -> one JSON line: time, level, logger, message, then every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def logging_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the whole process (uvicorn's ``log_config`` takes it as is).

    uvicorn's own access log is left off: the gateway writes its own richer line (``service.access``).
    """
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def response_fields(response: Any) -> dict[str, Any]:
    """What an access line says about a /score answer: images, faces, decisions and reasons (counts)."""
    faces = [face for image in response.images for face in image.faces]
    reasons = Counter(reason for face in faces for reason in face.reasons)
    reasons.update(reason for image in response.images if not image.faces for reason in image.reasons)
    return {
        "images": len(response.images),
        "image_errors": sum(1 for image in response.images if image.status == "error"),
        "faces": len(faces),
        "decisions": dict(Counter(face.decision for face in faces)),
        "reasons": dict(reasons),
    }


def access(request_id: str, method: str, route: str, status: int, latency_s: float, **fields: Any) -> None:
    """Write the request's access line (fields from ``response_fields`` or an error code come as ``fields``)."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.info(
            "%s %s %d",
            method,
            route,
            status,
            extra={
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": round(latency_s * 1000.0, 3),
                **fields,
            },
        )
