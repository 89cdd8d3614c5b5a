"""Authenticated encryption (AES-256-GCM) of state handed to clients: reasoning, compactions.

A sealed value is `rsd1.<key id>.<base64url(nonce + ciphertext)>`; the purpose
("reasoning", "compaction") is bound in as associated data, so one kind cannot be replayed
as another. The first key seals; every key opens, so rotating (a new key first) keeps old
values readable. Keys come from RESPONSD_ENCRYPTION_KEYS, else from `encryption.keys` in
the data directory, created on first use.

`cryptography` is imported on the first seal or open: ~6.5 MiB of memory that a server whose
clients never ask for encrypted reasoning or compaction does not hold.
"""

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from responsd.errors import InvalidRequestError

_VERSION = "rsd1"
KEY_FILE = "encryption.keys"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> str:
    return _b64(os.urandom(32))  # an AES-256 key: 32 random bytes


class UnsealError(InvalidRequestError):
    code = "invalid_encrypted_content"


class KeyRing:
    def __init__(self, keys: list[bytes]):
        if not keys or any(len(k) != 32 for k in keys):
            raise ValueError("encryption keys must be 32 bytes (base64url of 32 random bytes)")
        self._keys = {hashlib.sha256(k).hexdigest()[:8]: k for k in keys}
        self._current = hashlib.sha256(keys[0]).hexdigest()[:8]
        self._ciphers: dict[str, Any] = {}

    def _cipher(self, key_id: str) -> Any:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher = self._ciphers[key_id] = AESGCM(self._keys[key_id])
        return cipher

    @classmethod
    def load(cls, configured: str | None, data_dir: Path) -> "KeyRing":
        if configured:
            texts = [k.strip() for k in configured.split(",") if k.strip()]
        else:
            path = data_dir / KEY_FILE
            if not path.exists():
                data_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(new_key() + "\n")
            texts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return cls([_unb64(t) for t in texts])

    def seal(self, purpose: str, payload: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._cipher(self._current).encrypt(nonce, orjson.dumps(payload), purpose.encode())
        return f"{_VERSION}.{self._current}.{_b64(nonce + sealed)}"

    def open(self, purpose: str, token: str, param: str) -> dict[str, Any]:
        try:
            version, key_id, body = token.split(".", 2)
            raw = _unb64(body)
        except ValueError:
            raise self._error(param, "it is not a value this server made") from None
        if version != _VERSION or key_id not in self._keys:
            raise self._error(param, "it was made with a key this server does not have")
        from cryptography.exceptions import InvalidTag

        try:
            plain = self._cipher(key_id).decrypt(raw[:12], raw[12:], purpose.encode())
            return orjson.loads(plain)
        except (InvalidTag, ValueError):
            raise self._error(param, "it was altered or truncated") from None

    @staticmethod
    def _error(param: str, why: str) -> UnsealError:
        return UnsealError(f"The encrypted content could not be opened: {why}.", param=param)


def rotate_key(data_dir: Path) -> Path:
    """Put a new key first in the data dir's key file; the old ones keep opening old values."""
    KeyRing.load(None, data_dir)  # creates the file if there is none yet
    path = data_dir / KEY_FILE
    path.write_text(new_key() + "\n" + path.read_text())
    return path
