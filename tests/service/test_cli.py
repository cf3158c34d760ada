"""service.cli: ``score`` prints the API's JSON for files, in a real subprocess with the real models."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from service.cli import main
from service.settings import REPO_ROOT, Settings


def test_score_prints_one_accepted_face_and_a_no_face_reject(samples: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "service.cli", "score", str(samples / "obama.jpg"), str(samples / "no_face_cat.png")],
        cwd=REPO_ROOT,
        env={**os.environ, "FIQA_WARMUP": "false"},  # the output is under test, not the warm-up
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    response = json.loads(completed.stdout)
    assert [model["name"] for model in response["models"]] == Settings().default_models
    assert response["request_id"]
    assert response["timings_ms"]["total"] > 0
    portrait, cat = response["images"]

    assert portrait["id"].endswith("obama.jpg") and portrait["status"] == "ok"
    assert (portrait["width"], portrait["height"]) == (910, 1137)
    assert portrait["faces_detected"] == 1 and len(portrait["faces"]) == 1
    face = portrait["faces"][0]
    assert face["decision"] == "accept" and face["reasons"] == []
    assert 0.0 <= face["quality"]["score"] <= 100.0 and face["quality"]["model"] == Settings().default_models[0]
    assert len(face["landmarks"]) == 5
    assert portrait["decision"] == "accept" and portrait["reasons"] == []

    assert cat["status"] == "ok" and cat["faces_detected"] == 0 and cat["faces"] == []
    assert cat["decision"] == "reject" and cat["reasons"] == ["no_face"]


def test_score_refuses_a_missing_file(capsys, tmp_path: Path) -> None:
    assert main(["score", str(tmp_path / "missing.jpg")]) == 2
    assert "not a file" in capsys.readouterr().err


def test_hash_key_prints_the_stored_form_of_the_key_on_stdin(capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-key\n"))
    assert main(["hash-key", "--name", "ci"]) == 0
    assert capsys.readouterr().out == f"ci:{hashlib.sha256(b's3cret-key').hexdigest()}\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["hash-key"]) == 2
    assert "no key" in capsys.readouterr().err
