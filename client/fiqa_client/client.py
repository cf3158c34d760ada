"""``Client`` (blocking) and ``AsyncClient``: one POST per call to ``/score`` or ``/select``, multipart, with the API
key as a bearer token when given; the answer parsed into the gateway's response model, or a ``FiqaError``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx2
from pydantic import BaseModel

from fiqa_client.images import ImageLike, parts
from fiqa_client.models import ErrorBody, ScoreOptions, ScoreResponse, SelectOptions, SelectResponse
from fiqa_client.retry import Retry, retry_after_s

Answer = TypeVar("Answer", bound=BaseModel)
Options = TypeVar("Options", bound=BaseModel)
DEFAULT_URL = "http://127.0.0.1:8000"


class FiqaError(Exception):
    """The gateway refused the request (after any retries): status, its error code and message, the request id,
    and ``retry_after_s`` where it said when to come back."""

    def __init__(self, response: httpx2.Response):
        self.status = response.status_code
        self.retry_after_s = retry_after_s(response)
        try:
            body = ErrorBody.model_validate(response.json())
        except ValueError:  # not our JSON error body (a proxy's page, say)
            self.code, self.message, self.request_id, self.details = "http_error", response.text[:200], None, []
        else:
            self.code, self.message = body.error.code, body.error.message
            self.request_id, self.details = body.request_id, body.details or []
        super().__init__(f"{self.status} {self.code}: {self.message}")


def _options(options: Options | Mapping[str, Any] | None, model: type[Options]) -> dict[str, str]:
    """The ``options`` form field, checked against the gateway's model before anything is sent (typos fail here)."""
    if options is None:
        return {}
    checked = options if isinstance(options, model) else model.model_validate(options)
    fields = checked.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    return {"options": json.dumps(fields)} if fields else {}


def _answer(response: httpx2.Response, model: type[Answer]) -> Answer:
    if response.is_success:
        return model.model_validate_json(response.content)
    raise FiqaError(response)


class _Base:
    """What both clients share: where to send, the key, the time limits and the retry rule. ``http_options`` go to
    the httpx2 client (``transport``, ``event_hooks``, ``verify``, ...)."""

    http_client: type[httpx2.Client] | type[httpx2.AsyncClient]

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retry: Retry | None = None,
        **http_options: Any,
    ):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s
        self.retry = retry or Retry()
        self.http = self.http_client(base_url=self.base_url, headers=self.headers, **http_options)

    def _request(
        self, images: tuple[ImageLike, ...], options: BaseModel | Mapping[str, Any] | None, model: type[BaseModel]
    ) -> dict[str, Any]:
        return {"files": parts(images), "data": _options(options, model)}

    def _timeout(self, started: float) -> float:
        """One attempt's timeout: the client's, or less where the total deadline comes sooner."""
        return max(0.001, min(self.timeout_s, self.retry.deadline_s - (time.monotonic() - started)))


class Client(_Base):
    """Blocking client; use as a context manager (or call ``close``)."""

    http: httpx2.Client
    http_client = httpx2.Client

    def score(self, *images: ImageLike, options: ScoreOptions | Mapping[str, Any] | None = None) -> ScoreResponse:
        """Every face of every image scored and decided."""
        return self._post("/score", self._request(images, options, ScoreOptions), ScoreResponse)

    def select(self, *frames: ImageLike, options: SelectOptions | Mapping[str, Any] | None = None) -> SelectResponse:
        """The best frame of a burst (``frames`` in capture order), and every frame's short result."""
        return self._post("/select", self._request(frames, options, SelectOptions), SelectResponse)

    def _post(self, path: str, request: dict[str, Any], model: type[Answer]) -> Answer:
        started = time.monotonic()
        attempt = 1
        while True:
            response = self.http.post(path, **request, timeout=self._timeout(started))
            wait = self.retry.wait_s(response, attempt, time.monotonic() - started)
            if wait is None:
                return _answer(response, model)
            time.sleep(wait)
            attempt += 1

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The same calls for asyncio; ``async with`` it (or ``await aclose()``)."""

    http: httpx2.AsyncClient
    http_client = httpx2.AsyncClient

    async def score(self, *images: ImageLike, options: ScoreOptions | Mapping[str, Any] | None = None) -> ScoreResponse:
        """Every face of every image scored and decided."""
        return await self._post("/score", self._request(images, options, ScoreOptions), ScoreResponse)

    async def select(
        self, *frames: ImageLike, options: SelectOptions | Mapping[str, Any] | None = None
    ) -> SelectResponse:
        """The best frame of a burst (``frames`` in capture order), and every frame's short result."""
        return await self._post("/select", self._request(frames, options, SelectOptions), SelectResponse)

    async def _post(self, path: str, request: dict[str, Any], model: type[Answer]) -> Answer:
        started = time.monotonic()
        attempt = 1
        while True:
            response = await self.http.post(path, **request, timeout=self._timeout(started))
            wait = self.retry.wait_s(response, attempt, time.monotonic() - started)
            if wait is None:
                return _answer(response, model)
            await asyncio.sleep(wait)
            attempt += 1

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
