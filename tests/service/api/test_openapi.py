"""The OpenAPI contract holds: schemathesis drives every operation from the published document (schema-valid and
schema-violating requests) and checks each answer against it; and a client generated from the document by
datamodel-code-generator builds a request and parses real answers (issue 21, item 6); /select is documented with
examples that its own models accept (issue 20)."""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.api import create_app
from service.schemas import SelectRequest, SelectResponse
from service.settings import Settings

# A 413 is how the gateway refuses more images than it takes; schemathesis' default list of rejections lacks it.
CONFIG = SchemathesisConfig.from_str("[checks.negative_data_rejection]\nexpected-statuses = [400, 413, 415, 422]\n")
EXAMPLES = 100  # per operation and generation mode: a bounded budget, about a minute on this CPU


@pytest.fixture(scope="module")
def app():
    gateway = create_app(Settings(warmup=False))
    with TestClient(gateway):
        yield gateway


def test_every_referenced_schema_is_in_the_document(app) -> None:
    document = app.openapi()
    text = json.dumps(document)
    referenced = {ref.split("/")[-1] for ref in _refs(document)}
    assert referenced <= set(document["components"]["schemas"]), text[:200]
    body = document["paths"]["/score"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["images"]
    assert body["multipart/form-data"]["schema"]["properties"]["images"]["maxItems"] == 16
    responses = document["paths"]["/score"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "500", "503", "504"} <= set(responses)
    select = document["paths"]["/select"]["post"]
    frames = select["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["images"]
    assert frames["maxItems"] == 32 and set(select["responses"]) == set(responses)
    (example,) = select["requestBody"]["content"]["application/json"]["examples"].values()
    SelectRequest.model_validate(example["value"], strict=True)
    SelectResponse.model_validate(select["responses"]["200"]["content"]["application/json"]["example"])


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_schemathesis_finds_no_contract_violation(app) -> None:
    """Every answer has a documented status and body, no 5xx, schema-violating requests are refused. Schema-valid
    requests may still be refused: random bytes satisfy 'binary' and base64 but are not images (400 by design)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.label for operation in operations} == {
        "POST /score",
        "POST /select",
        "GET /healthz",
        "GET /readyz",
        "GET /v1/models",
    }
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if len(operation.body) or len(operation.query):  # nothing to violate without a body or parameters
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case) -> None:
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            run()


def test_a_client_generated_from_the_document_parses_real_answers(
    app, tmp_path: Path, samples: Path, monkeypatch
) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(app.openapi()))
    module = tmp_path / "generated_client.py"
    command = [sys.executable, "-m", "datamodel_code_generator", "--input", str(spec), "--input-file-type", "openapi"]
    options = ["--output-model-type", "pydantic_v2.BaseModel", "--field-constraints", "--set-default-enum-member"]
    options += ["--formatters", "ruff-format"]
    subprocess.run([*command, "--output", str(module), *options], check=True, capture_output=True)
    loaded = importlib.util.spec_from_file_location("generated_client", module)
    assert loaded is not None and loaded.loader is not None
    generated = importlib.util.module_from_spec(loaded)
    monkeypatch.setitem(sys.modules, "generated_client", generated)  # pydantic resolves the models' module by name
    loaded.loader.exec_module(generated)

    data = base64.b64encode((samples / "obama.jpg").read_bytes()).decode()
    request = generated.ScoreRequest(images=[generated.ImageIn(data=data)], options=generated.ScoreOptions(max_faces=2))
    with TestClient(app) as client:
        ok = client.post("/score", content=request.model_dump_json(exclude_none=True), headers=_JSON)
        refused = client.post("/score", json={"images": []})
    answer = generated.ScoreResponse.model_validate(ok.json())
    (face,) = answer.images[0].faces
    assert face.quality.score == ok.json()["images"][0]["faces"][0]["quality"]["score"] and face.decision.value
    error = generated.ErrorBody.model_validate(refused.json())
    assert refused.status_code == 422 and error.error.code == "invalid_request"


_JSON = {"content-type": "application/json"}
