"""Signed, time-limited values the browser carries: CSRF tokens, attempt references, flashes.

Both are itsdangerous tokens with one salt per purpose, bound to the install and to a hash of
the browser's session cookie, and checked with ``hmac.compare_digest``. Time comes from the
injected clock so tests move it instead of sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

CSRF_SALT = "oob-helper.web.csrf"
ATTEMPT_SALT = "oob-helper.web.attempt"
FLASH_SALT = "oob-helper.web.flash"
FLASH_MAX_AGE = 120.0  # the redirect after an action is followed at once; a stale one is dropped
SECRET_KEY_SETTING = "web_secret_key"


class TokenRejected(Exception):
    """A signed value was missing, forged, expired or bound elsewhere (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "missing", "invalid", "expired", "other_install", "other_session"


class _ClockSigner(TimestampSigner):
    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


def new_session_id() -> str:
    """A fresh random browser-session id for the session cookie."""
    return secrets.token_urlsafe(24)


def session_hash(session_id: str) -> str:
    """What tokens store instead of the session id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def generate_secret_key() -> str:
    """A new random signing key."""
    return secrets.token_urlsafe(48)


class Signer:
    """Makes and checks CSRF tokens and attempt references."""

    def __init__(
        self,
        secret_key: str,
        *,
        clock: Callable[[], float] = time.time,
        csrf_max_age: float = 3600.0,
        attempt_max_age: float = 600.0,
    ) -> None:
        self.csrf_max_age = csrf_max_age
        self.attempt_max_age = attempt_max_age
        kwargs: dict[str, Any] = {"signer": _ClockSigner, "signer_kwargs": {"clock": clock}}
        self._csrf = URLSafeTimedSerializer(secret_key, salt=CSRF_SALT, **kwargs)
        self._attempt = URLSafeTimedSerializer(secret_key, salt=ATTEMPT_SALT, **kwargs)
        self._flash = URLSafeTimedSerializer(secret_key, salt=FLASH_SALT, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(csrf_max_age={self.csrf_max_age})"

    def csrf_token(self, install: str, session_id: str) -> str:
        """A token for one form, valid for this install and browser session."""
        return self._csrf.dumps({"i": install, "s": session_hash(session_id)})

    def check_csrf(self, token: str | None, install: str, session_id: str | None) -> None:
        """Raise TokenRejected unless ``token`` was made for this install and session."""
        self._load(self._csrf, token, self.csrf_max_age, install, session_id)

    def attempt_ref(self, attempt_id: str, install: str, session_id: str) -> str:
        """The signed reference to a pending attempt that the connect form carries."""
        return self._attempt.dumps({"a": attempt_id, "i": install, "s": session_hash(session_id)})

    def check_attempt_ref(self, ref: str | None, install: str, session_id: str | None) -> str:
        """The attempt id behind ``ref``, or TokenRejected."""
        data = self._load(self._attempt, ref, self.attempt_max_age, install, session_id)
        attempt_id = data.get("a")
        if not isinstance(attempt_id, str):
            raise TokenRejected("invalid")
        return attempt_id

    def flash(self, outcome: str, install: str, session_id: str) -> str:
        """The signed outcome of an action, carried to the status page after its redirect."""
        return self._flash.dumps({"o": outcome, "i": install, "s": session_hash(session_id)})

    def check_flash(self, flash: str | None, install: str, session_id: str | None) -> str | None:
        """The outcome behind ``flash``, or None when it is missing, forged, stale or not ours."""
        try:
            data = self._load(self._flash, flash, FLASH_MAX_AGE, install, session_id)
        except TokenRejected:
            return None
        outcome = data.get("o")
        return outcome if isinstance(outcome, str) else None

    @staticmethod
    def _load(
        serializer: URLSafeTimedSerializer,
        token: str | None,
        max_age: float,
        install: str,
        session_id: str | None,
    ) -> dict[str, Any]:
        if not token:
            raise TokenRejected("missing")
        try:
            data = serializer.loads(token, max_age=int(max_age))
        except SignatureExpired:
            raise TokenRejected("expired") from None
        except BadSignature:
            raise TokenRejected("invalid") from None
        if not isinstance(data, dict) or not isinstance(data.get("i"), str):
            raise TokenRejected("invalid")
        if not hmac.compare_digest(data["i"].encode(), install.encode()):
            raise TokenRejected("other_install")
        bound = data.get("s")
        if (
            session_id is None
            or not isinstance(bound, str)
            or not hmac.compare_digest(bound.encode(), session_hash(session_id).encode())
        ):
            raise TokenRejected("other_session")
        return data
