"""Placeholder until the postgres backend lands (issue 5)."""

from __future__ import annotations

from oob_helper.crypto import TokenCipher
from oob_helper.errors import ConfigurationError
from oob_helper.stores.memory import MemoryStore


class PostgresStore(MemoryStore):
    """Not available yet."""

    def __init__(self, url: str, *, cipher: TokenCipher | None = None) -> None:
        raise ConfigurationError("OOB_HELPER_STORE: the postgres backend is not available yet")
