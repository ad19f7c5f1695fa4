"""Token values cut from one ``os.urandom`` call per 128 tokens.

The token endpoint makes two tokens per refresh; a ``getrandom(2)`` call and an encoding per
token were a measurable share of the benchmarked refresh grant (``bench/bench_token_endpoint.py``).
The bytes are the same operating-system CSPRNG output ``secrets`` uses, each handed out once;
a forked child drops what its parent had prepared, so the two never hand out the same token.
"""

from __future__ import annotations

import base64
import os

TOKEN_BYTES = 24  # 192 bits: a multiple of 3, so a batch encodes to whole tokens, no padding
_WIDTH = TOKEN_BYTES * 4 // 3  # 32 URL-safe characters
_BATCH = 128
_ready: list[str] = []


def _clear() -> None:
    _ready.clear()


os.register_at_fork(after_in_child=_clear)


def token_urlsafe() -> str:
    """A new ``secrets.token_urlsafe(24)``-style value: 32 characters, 192 random bits."""
    try:
        return _ready.pop()  # atomic under the GIL: no two threads get the same value
    except IndexError:
        text = base64.urlsafe_b64encode(os.urandom(TOKEN_BYTES * _BATCH)).decode("ascii")
        fresh = [text[i : i + _WIDTH] for i in range(0, len(text), _WIDTH)]
        value = fresh.pop()
        _ready.extend(fresh)
        return value
