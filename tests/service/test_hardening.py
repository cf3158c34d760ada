"""The bad-input corpus (issue 21, item 9): more than 40 kinds of malformed, hostile or careless requests, every one
generated here (no binary fixture), each answered with a documented 4xx (or 200 where the input is odd but valid),
never a 5xx, always a JSON error body with the request id, and the gateway still answering after each. The slow-client
and memory cases run against a real server in test_server.py."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

Request = dict  # keyword arguments of TestClient.request


def _jpeg(size: tuple[int, int] = (64, 64), mode: str = "RGB", **params) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 128 if mode != "RGB" else (120, 90, 60)).save(out, "JPEG", **params)
    return out.getvalue()


def _png(size: tuple[int, int] = (64, 64), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height and whose data is one empty deflate stream: a decompression bomb
    as far as the header is concerned, a few dozen bytes on the wire."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json(body: object) -> Request:
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


def _json_bytes(body: bytes) -> Request:
    return {"content": body, "headers": {"content-type": "application/json"}}


def _raw(data: bytes, kind: str = "image/jpeg", query: str = "") -> Request:
    return {"url": "/score" + query, "content": data, "headers": {"content-type": kind}}


def _multipart(files: list[tuple[str, bytes]], data: dict[str, str] | None = None) -> Request:
    return {"files": [(field, (f"{field}.jpg", payload, "image/jpeg")) for field, payload in files], "data": data}


def _tiff_la() -> bytes:
    out = io.BytesIO()
    Image.new("LA", (64, 64), (100, 200)).save(out, "TIFF")
    return out.getvalue()


def corpus(face: bytes) -> dict[str, tuple[Request, set[int]]]:
    """name -> (request, the statuses its answer may have). ``face`` is a real photo, for the odd-but-valid cases."""
    good = {"data": _b64(face)}
    truncated = face[: len(face) // 2] + b"\xff\xd9"
    cases: dict[str, tuple[Request, set[int]]] = {
        "empty JSON body": ({"content": b"", "headers": {"content-type": "application/json"}}, {400}),
        "invalid JSON": ({"content": b"{", "headers": {"content-type": "application/json"}}, {400}),
        "non-UTF-8 JSON": (
            {"content": b'{"images": "\xff\xfe"}', "headers": {"content-type": "application/json"}},
            {400},
        ),
        "JSON array": (_json([good]), {422}),
        "JSON string": (_json("images"), {422}),
        "JSON null": (_json(None), {422}),
        "no images key": (_json({"options": {}}), {422}),
        "empty image list": (_json({"images": []}), {422}),
        "images not a list": (_json({"images": good}), {422}),
        "image not an object": (_json({"images": ["abc"]}), {422}),
        "data not a string": (_json({"images": [{"data": 123}]}), {422}),
        "id too long": (_json({"images": [{**good, "id": "x" * 300}]}), {422}),
        "invalid base64": (_json({"images": [{"data": "!!!not base64!!!"}]}), {400}),
        "base64 of garbage": (_json({"images": [{"data": _b64(b"\x00" * 500)}]}), {400}),
        "empty data": (_json({"images": [{"data": ""}]}), {400}),
        "wrong data: URL": (_json({"images": [{"data": "data:text/plain;base64," + _b64(b"hello")}]}), {400}),
        "unknown top-level key": (_json({"images": [good], "extra": 1}), {422}),
        "unknown option": (_json({"images": [good], "options": {"treshold": 50}}), {422}),
        "threshold as text": (_json({"images": [good], "options": {"threshold": "50"}}), {422}),
        "threshold over 100": (_json({"images": [good], "options": {"threshold": 101}}), {422}),
        "max_faces 0": (_json({"images": [good], "options": {"max_faces": 0}}), {422}),
        "max_faces true": (_json({"images": [good], "options": {"max_faces": True}}), {422}),
        "empty model list": (_json({"images": [good], "options": {"models": []}}), {422}),
        "unknown model": (_json({"images": [good], "options": {"models": ["nope"]}}), {422}),
        "maps-only model first": (_json({"images": [good], "options": {"models": ["ifqa"]}}), {422}),
        "unknown map format": (_json({"images": [good], "options": {"return_maps": "gif"}}), {422}),
        "duplicate keys": (
            {"content": b'{"images": [], "images": []}', "headers": {"content-type": "application/json"}},
            {400},
        ),
        "JSON nested 10,000 deep": (
            {
                "content": b'{"images": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
                "headers": {"content-type": "application/json"},
            },
            {400},
        ),
        "17 images": (_json({"images": [good] * 17}), {413}),
        "query parameters on a JSON body": ({**_json({"images": [good]}), "url": "/score?threshold=5"}, {422}),
        "no content type": ({"content": face}, {415}),
        "text/plain": (_raw(face, "text/plain"), {415}),
        "empty raw body": (_raw(b""), {400}),
        "raw garbage": (_raw(b"\x00\x01garbage" * 10), {400}),
        "truncated JPEG": (_raw(truncated), {400}),
        "header-only PNG bomb": (_raw(_png_header_only(60_000, 60_000), "image/png"), {413}),
        "header claims 0x0": (_raw(_png_header_only(0, 0), "image/png"), {400}),
        "1x1 PNG": (_raw(_png((1, 1)), "image/png"), {400}),
        "GIF sent as JPEG": (_raw(b"GIF89a" + b"\x00" * 50), {400}),
        "unknown query option": (_raw(face, query="?colour=red"), {422}),
        "query threshold not a number": (_raw(face, query="?threshold=abc"), {422}),
        "multipart without boundary": (
            {"content": b"--x\r\n\r\n", "headers": {"content-type": "multipart/form-data"}},
            {400},
        ),
        "multipart without files": (
            {
                "content": b'--b\r\nContent-Disposition: form-data; name="options"\r\n\r\n{}\r\n--b--\r\n',
                "headers": {"content-type": "multipart/form-data; boundary=b"},
            },
            {400},
        ),
        "multipart unknown field": (_multipart([("images", face)], {"colour": "red"}), {422}),
        "multipart options not JSON": (_multipart([("images", face)], {"options": "{"}), {422}),
        "multipart options nested deep": (_multipart([("images", face)], {"options": "[" * 5000 + "]" * 5000}), {400}),
        "multipart 17 files": (_multipart([("images", face)] * 17), {413}),
        "multipart garbage file": (_multipart([("images", b"not an image at all")]), {400}),
        "one broken image among good ones": (_json({"images": [good, {"data": "@@@"}]}), {200}),
        "grey TIFF with alpha (LA)": (_raw(_tiff_la(), "image/png"), {200}),
        "CMYK JPEG": (_raw(_jpeg(mode="CMYK")), {200}),
        "16-bit PNG": (_raw(_png(mode="I;16"), "image/png"), {200}),
        "base64 wrapped at 76 columns": (_json({"images": [{"data": base64.encodebytes(face).decode()}]}), {200}),
        "GET /score": ({"method": "GET"}, {405}),
        "unknown path": ({"method": "GET", "url": "/nope"}, {404}),
    }
    return cases


@pytest.fixture(scope="module")
def face(samples: Path) -> bytes:
    return (samples / "obama.jpg").read_bytes()


def test_the_corpus_is_large_enough(face: bytes) -> None:
    assert len(corpus(face)) >= 40


def test_every_bad_input_gets_its_documented_answer_and_never_a_5xx(client, face: bytes) -> None:
    answers: dict[str, int] = {}
    wrong: dict[str, str] = {}
    for name, (request, allowed) in corpus(face).items():
        kwargs = {"method": "POST", "url": "/score", **request}
        response = client.request(**kwargs)
        answers[name] = response.status_code
        if response.status_code not in allowed:
            wrong[name] = f"{response.status_code}: {response.text[:200]}"
        assert response.headers.get("x-request-id"), name
        if response.status_code >= 400:
            body = response.json()
            assert body["error"]["code"] and body["request_id"] == response.headers["x-request-id"], name
        assert client.get("/healthz").status_code == 200, f"the gateway stopped answering after {name!r}"
    assert not wrong, wrong
    assert sum(status >= 500 for status in answers.values()) == 0


def test_a_broken_image_among_good_ones_is_only_that_images_error(client, face: bytes) -> None:
    body = client.post("/score", json={"images": [{"data": _b64(face)}, {"data": "@@@"}]}).json()
    ok, broken = body["images"]
    assert ok["status"] == "ok" and ok["faces"]
    assert broken["status"] == "error" and broken["error"]["code"] == "invalid_base64"
