"""Encryption at rest for the secret fields the stores keep (Fernet, with key rotation).

Design:

- Keys are Fernet keys (32 url-safe base64-encoded bytes; make one with
  ``python -c "from oob_helper.crypto import generate_key; print(generate_key())"``).
- ``open_store(url, encryption_keys=[...])`` takes them; when the argument is left out the
  environment variable ``OOB_HELPER_ENCRYPTION_KEYS`` (comma-separated) is read. Keys never go
  into the store URL, so they do not end up in logs or process listings.
- Several keys rotate: the first encrypts, every one decrypts (``MultiFernet``). To rotate
  with many workers: (1) give every worker ``OLD,NEW`` (all can read NEW); (2) then ``NEW,OLD``
  (NEW encrypts); (3) let every record be written again (each refresh rewrites its record, or
  call ``oob_helper.stores.reencrypt(store)``); (4) then ``NEW`` alone.
- What is encrypted: the access and refresh tokens of every record, and a pending attempt's id,
  state and PKCE verifier, and store settings (the web secret key). Install names, expiry
  times, scopes, states and versions stay readable so operators can inspect a store.
- Encrypted fields are stored as ``{"fernet": "<token>"}`` objects in the record's JSON, so a
  store may hold plain and encrypted records side by side (a key added to an existing store
  encrypts each record on its next write); a plain string is never mistaken for ciphertext.
- Reading an encrypted field without a key, or with keys none of which fit, raises
  ``StoreError`` and changes nothing. Opening a store checks the keys first against a small
  encrypted marker the store keeps (setting ``_encryption_check``), so a worker started with a
  wrong key, or without the key of an encrypted store, fails at once with a clear error instead
  of writing records nobody else can read. The marker is re-encrypted with the first key when
  keys rotate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from oob_helper.errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

ENV_KEYS = "OOB_HELPER_ENCRYPTION_KEYS"
_INSTALL_HINT = "pip install 'oob-helper[encryption]'"


def generate_key() -> str:
    """A new random Fernet key, as text."""
    fernet = _fernet_module("making an encryption key needs the cryptography package")
    key: bytes = fernet.Fernet.generate_key()
    return key.decode("ascii")


def keys_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The keys listed in ``OOB_HELPER_ENCRYPTION_KEYS`` (comma-separated; blanks ignored)."""
    raw = (os.environ if environ is None else environ).get(ENV_KEYS, "")
    return [part.strip() for part in raw.split(",") if part.strip()]


class TokenCipher:
    """Encrypts with the first key, decrypts with any. Its repr shows no key."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigurationError(f"{ENV_KEYS}: at least one encryption key is needed")
        fernet = _fernet_module()
        parts = []
        for index, key in enumerate(keys, start=1):
            try:
                parts.append(fernet.Fernet(key.strip().encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise ConfigurationError(
                    f"{ENV_KEYS}: key number {index} is not a Fernet key (32 url-safe base64 "
                    "bytes); make one with `python -c 'from oob_helper.crypto import "
                    "generate_key; print(generate_key())'`"
                ) from None
        self._primary = parts[0]
        self._multi: MultiFernet = fernet.MultiFernet(parts)
        self.key_count = len(parts)

    def __repr__(self) -> str:
        return f"TokenCipher(keys={self.key_count})"

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext of ``plaintext`` under the first key."""
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def is_current(self, ciphertext: str) -> bool:
        """True when ``ciphertext`` was made with the first (current) key."""
        fernet = _fernet_module()
        try:
            self._primary.decrypt(ciphertext.encode("ascii"))
        except (fernet.InvalidToken, UnicodeError):
            return False
        return True

    def decrypt(self, ciphertext: str) -> str:
        """Plaintext, or StoreError when no configured key fits."""
        fernet = _fernet_module()
        try:
            return self._multi.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (fernet.InvalidToken, UnicodeError):
            raise StoreError(
                "cannot decrypt the store: none of the configured encryption keys "
                f"({ENV_KEYS}) fits; add the key the store was written with"
            ) from None


def cipher_from_keys(keys: Sequence[str] | None) -> TokenCipher | None:
    """A cipher for ``keys`` (None: read ``OOB_HELPER_ENCRYPTION_KEYS``); None if there are none."""
    chosen = keys_from_env() if keys is None else [k for k in keys if k.strip()]
    return TokenCipher(chosen) if chosen else None


def _fernet_module(why: str = "") -> ModuleType:
    try:
        from cryptography import fernet  # noqa: PLC0415 - optional extra
    except ImportError:
        why = why or f"encryption keys are configured ({ENV_KEYS}) but the cryptography package is missing"
        raise ConfigurationError(f"{why}: {_INSTALL_HINT}") from None
    return fernet
