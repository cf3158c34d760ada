"""service.api.keys: the stored form of a key, the keys file, and which keys a settings object accepts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.api.keys import KeyRing, hash_key, parse_key_file
from service.settings import Settings

ALPHA, BETA = hash_key("alpha-key"), hash_key("beta-key")


def test_a_key_is_stored_as_the_sha256_hex_of_its_utf8_bytes() -> None:
    assert hash_key("clé") == hashlib.sha256("clé".encode()).hexdigest()
    assert len(hash_key("x")) == 64


def test_key_file_lines_with_and_without_names_comments_and_blanks() -> None:
    text = f"# rotated 2026-12\n\nci:{ALPHA}  # the CI runner\n  {BETA.upper()}  \n"
    assert parse_key_file(text) == [("ci", ALPHA), (f"key-{BETA[:8]}", BETA)]


@pytest.mark.parametrize("line", ["not-a-hash", f"ci:{ALPHA[:-1]}", f"ci {ALPHA}", f"{ALPHA}0"])
def test_a_malformed_line_is_an_error_naming_its_line(line: str) -> None:
    with pytest.raises(ValueError, match=r"keys\.txt, line 2"):
        parse_key_file(f"{ALPHA}\n{line}\n", source="keys.txt")


def test_the_ring_names_the_key_that_matches_and_nothing_else() -> None:
    ring = KeyRing([("ci", ALPHA), ("ops", BETA)])
    assert ring.match("alpha-key") == "ci" and ring.match("beta-key") == "ops"
    assert ring.match("gamma-key") is None and ring.match("") is None
    assert ring and not KeyRing([])


def test_settings_hashes_and_the_keys_file_add_up(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"ops:{BETA}\n")
    ring = KeyRing.from_settings(Settings(api_key_hashes=[ALPHA], api_keys_file=keys_file))
    assert ring.match("alpha-key") == f"key-{ALPHA[:8]}" and ring.match("beta-key") == "ops"
    assert not KeyRing.from_settings(Settings())


@pytest.mark.parametrize(("content", "message"), [(None, "cannot be read"), ("# nobody yet\n", "holds no key")])
def test_a_named_keys_file_that_gives_no_key_stops_the_gateway(tmp_path: Path, content, message) -> None:
    """Fail closed: a deployer who mounted a keys file meant the gateway to need keys."""
    keys_file = tmp_path / "keys"
    if content is not None:
        keys_file.write_text(content)
    with pytest.raises(ValueError, match=message):
        KeyRing.from_settings(Settings(api_keys_file=keys_file))


def test_settings_refuse_a_hash_that_is_not_sha256_hex() -> None:
    with pytest.raises(ValueError, match="api_key_hashes"):
        Settings(api_key_hashes=["alpha-key"])
    with pytest.raises(ValueError, match="metrics_key_hash"):
        Settings(metrics_key_hash="prometheus")
