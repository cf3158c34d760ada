"""The Python client (client/): its models are what the generator writes from the service's OpenAPI document, it
installs and imports without the service's dependencies, and against a real gateway (``fiqa-service serve`` in a
child process) it sends paths, bytes, files and arrays, returns typed answers, sends the API key, and waits as a
429's or a 503's ``Retry-After`` says, within its attempts and deadline."""

from __future__ import annotations

import asyncio
import email
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx2
import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from fiqa_client import AsyncClient, Client, FiqaError, Retry, ScoreResponse, SelectResponse
from loadtests.server import Gateway
from service.api.keys import hash_key

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
KEY = "client-test-key"
HEAVY = {"numpy", "PIL", "service", "fastapi"}  # what importing the client must not bring in
RATE_PER_S, BURST = 1, 8  # the keyed gateway's rate limit: Retry-After is 1 s once the bucket is empty


def test_the_committed_models_are_what_the_generator_writes() -> None:
    check = subprocess.run([sys.executable, "-m", "client.generate", "--check"], cwd=REPO, capture_output=True)
    assert check.returncode == 0, check.stderr.decode()


def test_the_client_installs_and_imports_without_the_service(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(REPO / "client")], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("fiqa_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.message_from_bytes(archive.read(next(n for n in names if n.endswith("METADATA"))))
    assert "fiqa_client/models.py" in names and not any(name.startswith(("service/", "client/")) for name in names)
    required = {re.match(r"[\w.-]+", line)[0] for line in metadata.get_all("Requires-Dist")}
    assert required == {"httpx2", "pydantic", "numpy", "pillow"}  # the last two only with the arrays extra
    assert all("extra ==" in line for line in metadata.get_all("Requires-Dist") if "numpy" in line or "pillow" in line)
    probe = f"import sys; sys.path.insert(0, {str(wheel)!r}); "
    probe += f"import fiqa_client; print(sorted({HEAVY!r} & {{*sys.modules}}))"
    loaded = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway that wants an API key and limits each key to ``RATE_PER_S`` requests/s (burst ``BURST``)."""
    env = {
        "FIQA_API_KEY_HASHES": json.dumps([hash_key(KEY)]),
        "FIQA_RATE_LIMIT_PER_S": str(RATE_PER_S),
        "FIQA_RATE_LIMIT_BURST": str(BURST),
        "FIQA_WARMUP": "false",
    }
    with Gateway(env=env, log=tmp_path_factory.mktemp("keyed") / "gateway.log") as running:
        yield running


def _statuses() -> tuple[list[int], dict[str, list]]:
    """A list that an httpx2 response hook fills with every status the client sees (retries included)."""
    seen: list[int] = []
    return seen, {"response": [lambda response: seen.append(response.status_code)]}


def test_paths_bytes_files_and_arrays_are_scored_with_the_key(keyed: Gateway, samples: Path) -> None:
    photo = samples / "obama.jpg"
    array = np.asarray(Image.open(photo).convert("RGB"))
    with Client(keyed.url, api_key=KEY) as client:
        answer = client.score(photo, photo.read_bytes(), io.BytesIO(photo.read_bytes()), array)
    assert isinstance(answer, ScoreResponse) and [image.id for image in answer.images] == [
        "obama.jpg",
        "1",
        "2",
        "3.png",
    ]
    scores = [image.faces[0].quality.score for image in answer.images]
    assert scores[0] == scores[1] == scores[2] and abs(scores[3] - scores[0]) < 2  # the array is the decoded JPEG
    assert answer.images[0].faces[0].decision.value in {"accept", "reject"}


def test_select_returns_the_typed_best_shot(keyed: Gateway, samples: Path) -> None:
    photo = Image.open(samples / "obama.jpg").convert("RGB")
    blurred = np.asarray(photo.resize((photo.width // 8, photo.height // 8)).resize(photo.size))
    with Client(keyed.url, api_key=KEY) as client:
        answer = client.select(blurred, np.asarray(photo), options={"track": True, "max_faces": 1})
    assert isinstance(answer, SelectResponse) and answer.chosen is not None and answer.chosen.frame == 1
    assert [frame.status.value for frame in answer.frames] == ["ok", "ok"] and len(answer.tracks or []) == 1
    assert answer.chosen.why.decided_by.value in {"quality", "only_candidate"}


def test_a_missing_or_wrong_key_and_bad_options(keyed: Gateway, samples: Path) -> None:
    photo = samples / "obama.jpg"
    for key, code in ((None, "missing_api_key"), ("not-the-key", "invalid_api_key")):
        with Client(keyed.url, api_key=key) as client, pytest.raises(FiqaError) as refused:
            client.score(photo)
        assert refused.value.status == 401 and refused.value.code == code and refused.value.request_id
    with Client(keyed.url, api_key=KEY) as client, pytest.raises(ValidationError):
        client.select(photo, options={"trak": True})  # a typo fails before anything is sent


def _empty_the_bucket(gateway: Gateway) -> None:
    """Spend the key's tokens with cheap protected requests until the gateway answers 429."""
    with httpx2.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        for _ in range(BURST + 2):
            if http.get("/v1/models").status_code == 429:
                return
    pytest.fail("the rate limit never answered 429")


def _refused(gateway: Gateway, client: Client, photo: bytes) -> tuple[FiqaError, float]:
    """The 429 a client that does not wait gets with the key's bucket empty, and how long that answer took. The
    bucket refills continuously (a token per second), so one may be back between emptying it and the request: that
    request is then served, spends it, and the next one is refused."""
    _empty_the_bucket(gateway)
    for _ in range(3):
        started = time.monotonic()
        try:
            client.score(photo)
        except FiqaError as error:
            return error, time.monotonic() - started
    pytest.fail("three requests in a row passed an empty bucket")


def test_a_429_is_waited_out_as_retry_after_says(keyed: Gateway, samples: Path) -> None:
    photo = (samples / "obama.jpg").read_bytes()
    with Client(keyed.url, api_key=KEY, retry=Retry(attempts=1)) as once:
        refused, _ = _refused(keyed, once, photo)
    assert refused.status == 429 and refused.retry_after_s == 1 / RATE_PER_S

    with Client(keyed.url, api_key=KEY, retry=Retry(deadline_s=0.5)) as hurried:
        # waiting 1 s would end past its deadline: the 429 comes back at once
        refused, took = _refused(keyed, hurried, photo)
    assert refused.status == 429 and took < 0.5

    for _ in range(3):  # until the first request meets the empty bucket (a token may refill before it)
        _empty_the_bucket(keyed)
        seen, hooks = _statuses()
        with Client(keyed.url, api_key=KEY, event_hooks=hooks) as client:
            started = time.monotonic()
            answer = client.score(photo)
        if seen[0] == 429:
            break
    assert seen[0] == 429 and seen[-1] == 200 and time.monotonic() - started >= 1 / RATE_PER_S
    assert answer.images[0].status.value == "ok"


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway that decodes one frame at a time and lets none wait: concurrent requests get 503, Retry-After 1."""
    env = {
        "FIQA_MAX_DECODED_PIXELS": "1",
        "FIQA_MAX_WAITING_DECODES": "0",
        "FIQA_RETRY_AFTER_S": "1",
        "FIQA_WARMUP": "false",
    }
    with Gateway(env=env, log=tmp_path_factory.mktemp("busy") / "gateway.log") as running:
        yield running


def test_concurrent_calls_wait_out_503s_and_all_get_answers(busy: Gateway, samples: Path) -> None:
    photo = (samples / "obama.jpg").read_bytes()
    seen: list[tuple[int, str | None]] = []

    async def record(response: httpx2.Response) -> None:
        seen.append((response.status_code, response.headers.get("retry-after")))

    async def burst() -> list[SelectResponse]:
        retry = Retry(attempts=12, deadline_s=60)
        async with AsyncClient(busy.url, retry=retry, event_hooks={"response": [record]}) as client:
            return await asyncio.gather(*(client.select(photo) for _ in range(6)))

    answers = asyncio.run(burst())
    assert all(answer.chosen is not None and answer.chosen.frame == 0 for answer in answers)
    assert (503, "1") in seen and sum(status == 200 for status, _ in seen) == 6
    assert {status for status, _ in seen} == {200, 503}
