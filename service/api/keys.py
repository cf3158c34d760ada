"""API keys: only their SHA-256 is stored (settings or a mounted file), and a presented key is compared with every
stored hash in constant time, so neither a leaked configuration nor response timing gives a key away."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from service.settings import KeyHash, Settings

_HASH = TypeAdapter(KeyHash)


def hash_key(key: str) -> str:
    """The stored form of ``key``: SHA-256 of its UTF-8 bytes, in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def _default_name(digest: str) -> str:
    """A key's name in logs and rate limits when its line gives none: a prefix of its hash, never the key."""
    return f"key-{digest[:8]}"


def parse_key_file(text: str, source: str = "keys file") -> list[tuple[str, str]]:
    """``(name, hash)`` pairs from a keys file: one hash per line, or ``name:hash``; blank lines and ``#`` comments
    are skipped. A malformed line is an error (with its number), so a typo never leaves a key silently dropped."""
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, digest = line.rpartition(":")
        try:
            digest = _HASH.validate_python(digest)
        except ValidationError:
            raise ValueError(f"{source}, line {number}: expected a SHA-256 hex digest, or name:digest") from None
        keys.append((name.strip() or _default_name(digest), digest))
    return keys


class KeyRing:
    """The accepted keys, by name. Empty: no key is asked for."""

    def __init__(self, keys: list[tuple[str, str]]):
        self._keys = [(name, bytes.fromhex(digest)) for name, digest in keys]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The keys of ``FIQA_API_KEY_HASHES`` and ``FIQA_API_KEYS_FILE``. A named file that is missing or holds no
        key stops the gateway: a deployer who mounted one meant the gateway to be closed, not open."""
        keys = [(_default_name(digest), digest) for digest in settings.api_key_hashes]
        path: Path | None = settings.api_keys_file
        if path is not None:
            try:
                text = path.read_text()
            except OSError as error:
                raise ValueError(f"FIQA_API_KEYS_FILE {path} cannot be read: {error.strerror}") from error
            from_file = parse_key_file(text, source=str(path))
            if not from_file:
                raise ValueError(f"FIQA_API_KEYS_FILE {path} holds no key")
            keys += from_file
        return cls(keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def match(self, key: str) -> str | None:
        """The name of the stored key ``key`` hashes to, or None. Every stored hash is compared, matched or not."""
        presented = bytes.fromhex(hash_key(key))
        found = None
        for name, digest in self._keys:
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        return found
