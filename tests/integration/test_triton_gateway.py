"""The gateway on a real Triton (Python-backend twin of model_repository/, onnxruntime inside) against the
embedded onnxruntime backend: same answers, Triton's dynamic batching at work, 503 fast while Triton is down."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton_http
import yaml

from export.local_triton import LocalTriton
from service.backends.onnxruntime import OnnxRuntimeBackend
from service.backends.triton import TritonBackend
from service.errors import ModelMismatch
from service.registry import Registry
from service.settings import Settings

pytestmark = pytest.mark.integration

PARITY_IMAGES = ["obama.jpg", "biden.jpg", "t1.jpg", "sample1.jpg", "grace_hopper_512x512.jpg"]
TOLERANCE = 1e-5
REQUESTS = 32


def _max_float_diff(a: Any, b: Any, where: str = "") -> float:
    """Largest |a - b| over every number of two JSON trees that must otherwise be identical."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        return max([_max_float_diff(a[k], b[k], f"{where}.{k}") for k in a], default=0.0)
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        return max(
            [_max_float_diff(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b, strict=True))], default=0.0
        )
    if isinstance(a, float | int) and not isinstance(a, bool):
        assert isinstance(b, float | int), where
        return abs(float(a) - float(b))
    assert a == b, f"{where}: {a!r} != {b!r}"
    return 0.0


def _comparable(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in ("request_id", "timings_ms")}


def _triton_settings(server: LocalTriton, **overrides) -> dict:
    return {"backend": "triton", "triton_url": server.grpc_url, "triton_timeout_s": 5.0, **overrides}


def _stats(server: LocalTriton, model: str) -> dict[str, int]:
    client = triton_http.InferenceServerClient(server.http_url)
    try:
        stats = client.get_inference_statistics(model)["model_stats"][0]
    finally:
        client.close()
    return {
        "inference_count": int(stats.get("inference_count", 0)),
        "execution_count": int(stats.get("execution_count", 0)),
        "requests": int(stats["inference_stats"]["success"]["count"]),
        "max_batch": max([int(b["batch_size"]) for b in stats.get("batch_stats", [])], default=0),
    }


def test_scores_equal_embedded_backend(triton, make_client, samples: Path) -> None:
    bodies = {}
    for backend, overrides in (("embedded", {}), ("triton", _triton_settings(triton))):
        with make_client(**overrides) as client:
            assert client.get("/readyz").json()["backend"] == ("triton" if backend == "triton" else "onnxruntime")
            bodies[backend] = []
            for name in PARITY_IMAGES:
                response = client.post(
                    "/score", content=(samples / name).read_bytes(), headers={"content-type": "image/jpeg"}
                )
                assert response.status_code == 200, response.text
                bodies[backend].append(_comparable(response.json()))
    faces = sum(len(image["faces"]) for body in bodies["triton"] for image in body["images"])
    assert faces >= 8  # t1.jpg alone shows 6 faces
    worst = max(_max_float_diff(a, b) for a, b in zip(bodies["embedded"], bodies["triton"], strict=True))
    print(f"\nparity over {len(PARITY_IMAGES)} images, {faces} faces: max |triton - embedded| = {worst:.3g}")
    assert worst <= TOLERANCE


def test_models_listing_describes_triton(triton, make_client) -> None:
    with make_client(**_triton_settings(triton)) as client:
        models = {entry["name"]: entry for entry in client.get("/v1/models?detail=full").json()["models"]}
    runtime = models["fr_feature"]["runtime"]
    assert runtime["runtime"] == "triton 2.51.0" and runtime["loaded"] is True
    assert runtime["platform"] == "python" and runtime["max_batch_size"] >= Settings().max_batch_size


def test_concurrent_requests_are_batched_by_triton(triton, make_client, samples: Path) -> None:
    jpeg = (samples / "obama.jpg").read_bytes()
    # 2 CPU cores run gateway and both twins here: allow queueing time (batching, not latency, is under test).
    with make_client(**_triton_settings(triton, triton_timeout_s=60.0)) as client, ThreadPoolExecutor(16) as pool:
        before = _stats(triton, "centerface")  # after the gateway's start-up warm-up call
        responses = list(
            pool.map(
                lambda _: client.post("/score", content=jpeg, headers={"content-type": "image/jpeg"}), range(REQUESTS)
            )
        )
    after = _stats(triton, "centerface")
    assert [r.status_code for r in responses] == [200] * REQUESTS, [r.text for r in responses if r.status_code != 200][
        :2
    ]
    delta = {key: after[key] - before[key] for key in ("inference_count", "execution_count", "requests")}
    print(
        f"\ncenterface statistics over {REQUESTS} concurrent /score calls: {delta}, largest batch {after['max_batch']}"
    )
    # The default fast path sends the detector two 1-row requests per one-face frame (the coarse pass, then the pass
    # on the face's crop); fewer executions than rows means Triton merged them.
    assert Settings().detector_mode == "fast"
    assert delta["requests"] == 2 * REQUESTS and delta["inference_count"] == 2 * REQUESTS
    assert delta["execution_count"] < delta["inference_count"]
    assert after["max_batch"] > 1


@pytest.mark.parametrize(("protocol", "shm"), [("grpc", False), ("grpc", True), ("http", False), ("http", True)])
def test_backend_protocols_and_shared_memory_match_onnxruntime(triton, protocol: str, shm: bool) -> None:
    settings = Settings(
        backend="triton",
        triton_protocol=protocol,
        triton_url=triton.grpc_url if protocol == "grpc" else triton.http_url,
        triton_shm=shm,
    )
    registry = Registry(settings.models_dir)
    rng = np.random.default_rng(0)
    batches = {
        "fr_feature": {"input": rng.uniform(-1, 1, (5, 3, 112, 112)).astype(np.float32)},
        "centerface": {"input.1": rng.uniform(0, 255, (1, 3, 96, 128)).astype(np.float32)},
    }

    async def run() -> tuple[dict, dict]:
        triton_backend = TritonBackend(registry, settings)
        embedded = OnnxRuntimeBackend(registry, Settings())
        try:
            await triton_backend.load(list(batches))
            await embedded.load(list(batches))
            assert await triton_backend.ready()
            got = {name: await triton_backend.infer(name, inputs) for name, inputs in batches.items()}
            again = await triton_backend.infer("fr_feature", batches["fr_feature"])  # reuses the shm slot
            assert np.array_equal(again["output"], got["fr_feature"]["output"])
            want = {name: await embedded.infer(name, inputs) for name, inputs in batches.items()}
            return got, want
        finally:
            await triton_backend.close()
            await embedded.close()

    got, want = asyncio.run(run())
    for name in batches:
        for output, expected in want[name].items():
            assert got[name][output].shape == expected.shape
            np.testing.assert_allclose(got[name][output], expected, atol=TOLERANCE, rtol=0)


def _registry_with(tmp_path: Path, name: str, change) -> Registry:
    """A copy of the model cards with one card edited (the ONNX files are not needed to check Triton)."""
    source = Registry(Settings().models_dir)
    for card_name in source.cards:
        folder = tmp_path / card_name
        folder.mkdir()
        data = yaml.safe_load((source.models_dir / card_name / "card.yaml").read_text())
        if card_name == name:
            change(data)
        (folder / "card.yaml").write_text(yaml.safe_dump(data))
    return Registry(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda card: card["outputs"][0].update(shape=[-1, 256]), "shape"),
        (lambda card: card["outputs"][0].update(name="embedding"), "outputs"),
        (lambda card: card["inputs"][0].update(dtype="float16"), "float32 in the network, float16 in its card"),
        (lambda card: card.update(version="2"), "card version"),
    ],
)
def test_model_mismatch_stops_start_up(triton, tmp_path: Path, change, message: str) -> None:
    registry = _registry_with(tmp_path, "fr_feature", change)
    backend = TritonBackend(registry, Settings(backend="triton", triton_url=triton.grpc_url))

    async def run() -> None:
        try:
            await backend.load(["fr_feature"])
        finally:
            await backend.close()

    with pytest.raises(ModelMismatch, match=message):
        asyncio.run(run())


@pytest.mark.parametrize("shm", [False, True], ids=["socket", "shared-memory"])
def test_triton_outage_gives_fast_503_and_recovers(
    twin_repository: Path, make_client, samples: Path, shm: bool
) -> None:
    """Kill -9 Triton: fast 503s; restart it on the same ports: ready again (shm regions re-registered)."""
    jpeg = (samples / "obama.jpg").read_bytes()
    server = LocalTriton(twin_repository, log_path=twin_repository.parent / "tritonserver-outage.log")
    server.start()
    try:
        with make_client(**_triton_settings(server, triton_shm=shm)) as client:
            first = client.post("/score", content=jpeg, headers={"content-type": "image/jpeg"})
            assert first.status_code == 200 and client.get("/readyz").status_code == 200

            server.kill()
            started = time.perf_counter()
            ready = client.get("/readyz")
            readyz_s = time.perf_counter() - started
            started = time.perf_counter()
            scored = client.post("/score", content=jpeg, headers={"content-type": "image/jpeg"})
            score_s = time.perf_counter() - started
            print(
                f"\nTriton down: /readyz {ready.status_code} in {readyz_s:.3f} s, "
                f"/score {scored.status_code} in {score_s:.3f} s"
            )
            assert ready.status_code == 503 and readyz_s < 2.0
            assert scored.status_code == 503 and score_s < 2.0
            assert scored.json()["error"]["code"] == "backend_unavailable"

            server.start()
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "gateway did not see Triton come back within 30 s"
                time.sleep(0.2)
            again = client.post("/score", content=jpeg, headers={"content-type": "image/jpeg"})
            assert again.status_code == 200
            assert _max_float_diff(_comparable(first.json()), _comparable(again.json())) <= TOLERANCE
    finally:
        server.stop()
