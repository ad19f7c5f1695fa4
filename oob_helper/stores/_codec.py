"""How every backend turns records, attempts and settings into stored text (and back).

One place decides the stored form, so all backends encrypt the same fields the same way and
``migrate-store`` moves records between them unchanged. See ``oob_helper.crypto`` for the
encrypted-field format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

from oob_helper.crypto import ENV_KEYS, TokenCipher
from oob_helper.errors import StoreError
from oob_helper.tokens import InstallRecord, PendingAttempt, Token

KEY_CHECK_SETTING = "_encryption_check"
_KEY_CHECK_TEXT = "oob-helper encryption check"
_TOKEN_SECRETS = ("access_token", "refresh_token")
_ATTEMPT_SECRETS = ("attempt_id", "state", "code_verifier")


def verify_keys(
    codec: Codec,
    read: Callable[[], str | bytes | None],
    write: Callable[[str, bool], None],
) -> None:
    """Check the configured keys against the store's marker when a store opens.

    ``read`` returns the marker's stored text; ``write(text, only_if_absent)`` stores one.
    """
    stored = read()
    text = codec.check_keys(stored)
    if text is None:
        return
    write(text, stored is None)
    if stored is None:
        codec.check_keys(read())  # another worker may have set it first, with other keys


def attempt_key(attempt_id: str) -> str:
    """The stored key of an attempt: a hash, so the id itself is never a lookup key at rest."""
    return hashlib.sha256(attempt_id.encode("utf-8")).hexdigest()


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(InstallRecord))
_TOKEN_FIELDS = tuple(f.name for f in dataclasses.fields(Token))


def _record_dict(record: InstallRecord) -> dict[str, Any]:
    """``record.to_dict()`` without ``dataclasses.asdict``'s recursive deep copy.

    Every field but ``token`` (and its ``scopes``) is a scalar, so a shallow copy gives the
    same dict; asdict was a tenth of the CPU of a refresh (``refresh --all``). A test keeps the
    two equal.
    """
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    token = record.token
    if token is not None:
        token_data = {name: getattr(token, name) for name in _TOKEN_FIELDS}
        token_data["scopes"] = list(token.scopes)
        data["token"] = token_data
    return data


class Codec:
    """JSON with the secret fields encrypted when a cipher is configured."""

    # Decoded records by their stored text and version: a hot install is read again and again
    # (the auth flow with its token cache cold reads the store per request) and its text only
    # changes when it is written, so JSON parsing and decryption are skipped for a text seen
    # before. Records are frozen, so sharing one is safe. Bounded: cleared when full.
    MEMO_SIZE = 1024

    def __init__(self, cipher: TokenCipher | None) -> None:
        self.cipher = cipher
        self._memo: dict[tuple[str | bytes, int | None], InstallRecord] = {}

    @property
    def encrypted(self) -> bool:
        """True when new writes are encrypted."""
        return self.cipher is not None

    def dump_record(self, record: InstallRecord) -> str:
        """The stored text of ``record`` (its version included)."""
        data = _record_dict(record)
        if data.get("token") is not None:
            self._seal(data["token"], _TOKEN_SECRETS)
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def load_record(self, text: str | bytes, version: int | None = None) -> InstallRecord:
        """Inverse of ``dump_record``; ``version`` (from a column) wins over the JSON's."""
        key = (text, version)
        memo = self._memo
        record = memo.get(key)
        if record is not None:
            return record
        data = self._parse(text, "record")
        if data.get("token") is not None:
            self._open(data["token"], _TOKEN_SECRETS)
        if version is not None:
            data["version"] = version
        record = InstallRecord.from_dict(data)
        if len(memo) >= self.MEMO_SIZE:
            memo.clear()
        memo[key] = record
        return record

    def dump_attempt(self, attempt: PendingAttempt) -> str:
        """The stored text of ``attempt``."""
        data = attempt.to_dict()
        self._seal(data, _ATTEMPT_SECRETS)
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def load_attempt(self, text: str | bytes) -> PendingAttempt:
        """Inverse of ``dump_attempt``."""
        data = self._parse(text, "attempt")
        self._open(data, _ATTEMPT_SECRETS)
        return PendingAttempt.from_dict(data)

    def dump_setting(self, value: str) -> str:
        """The stored text of a setting value."""
        if self.cipher is None:
            return json.dumps(value)
        return json.dumps({"fernet": self.cipher.encrypt(value)})

    def load_setting(self, text: str | bytes) -> str:
        """Inverse of ``dump_setting``."""
        try:
            value = json.loads(text)
        except ValueError:
            raise StoreError("a stored setting is not valid JSON: the store is damaged") from None
        return str(self._open_value(value))

    def rewrap_setting(self, text: str | bytes) -> str | None:
        """``text`` sealed with the current key, or None when it already is (or no key is set)."""
        if self.cipher is None:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None  # damaged: leave it for get_setting to report
        if isinstance(value, dict) and self.cipher.is_current(str(value.get("fernet", ""))):
            return None
        return self.dump_setting(str(self._open_value(value)))

    def check_keys(self, stored: str | bytes | None) -> str | None:
        """Verify the configured keys against the store's marker (``KEY_CHECK_SETTING``).

        Returns the marker text to store (none yet, or made with an older key), or None when
        nothing needs writing; raises StoreError when the keys do not fit the store.
        """
        if stored is None:
            return None if self.cipher is None else self.dump_setting(_KEY_CHECK_TEXT)
        try:
            value = json.loads(stored)
        except ValueError:
            raise StoreError("the store's encryption marker is damaged") from None
        if not isinstance(value, dict):
            return None  # written without encryption: plain and encrypted records may mix
        if self.cipher is None:
            raise StoreError(
                "the store holds encrypted tokens but no encryption key is configured: "
                f"set {ENV_KEYS} to the key(s) it was written with"
            )
        ciphertext = str(value.get("fernet", ""))
        if self.cipher.decrypt(ciphertext) != _KEY_CHECK_TEXT:
            raise StoreError("the store's encryption marker is damaged")
        return None if self.cipher.is_current(ciphertext) else self.dump_setting(_KEY_CHECK_TEXT)

    def _seal(self, data: dict[str, Any], names: tuple[str, ...]) -> None:
        if self.cipher is None:
            return
        for name in names:
            if isinstance(data.get(name), str):
                data[name] = {"fernet": self.cipher.encrypt(data[name])}

    def _open(self, data: dict[str, Any], names: tuple[str, ...]) -> None:
        for name in names:
            data[name] = self._open_value(data.get(name))

    def _open_value(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if self.cipher is None:
            raise StoreError(
                "the store holds encrypted tokens but no encryption key is configured: "
                f"set {ENV_KEYS} to the key(s) it was written with"
            )
        return self.cipher.decrypt(str(value.get("fernet", "")))

    @staticmethod
    def _parse(text: str | bytes, what: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise StoreError(f"a stored {what} is not valid JSON: the store is damaged")
        return data
