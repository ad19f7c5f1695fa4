"""Authorization codes, access tokens and refresh tokens, grouped by grant; no HTTP types.

A *family* is everything issued from one authorization code: its access tokens, its live
refresh token(s) and the last rotated ones (for reuse detection and the grace window).
Revoking a family forgets it wholesale; expired records are purged through min-heaps, so
memory follows the number of live tokens, not the number ever issued.

What ended a token is remembered, bounded (``MAX_ENDED`` values, oldest forgotten first), as a
``Verdict`` keyed by the token's value: a later use of it is refused with that verdict (expired
by its lifetime or by QA, revoked by QA, by the client, by reuse detection or a code replay).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from mock_server import entropy, verdicts
from mock_server.policy import MAX_KEPT_REFRESH_TOKENS, MAX_REMEMBERED_ROTATIONS, RefreshPolicy
from mock_server.verdicts import Verdict

MAX_ENDED = 10_000  # ended tokens whose verdict is remembered
_Expiry = tuple[str, float, float | None]  # what expired, when, when QA set it (None: its lifetime)


def redact(value: str) -> str:
    """The first four characters and an ellipsis: enough to tell tokens apart in a log."""
    return value[:4] + "…"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(slots=True)
class Code:
    """An authorization code and everything it is bound to."""

    value: str = field(repr=False)
    client_id: str
    username: str
    account_id: int
    redirect_uri: str
    scopes: frozenset[str]
    code_challenge: str | None
    state: str | None
    expires_at: float
    used: bool = False
    family_id: str | None = None
    used_at: float | None = None
    used_request: int | None = None  # the request number of the exchange that used it


@dataclass(slots=True)
class AccessToken:
    """A live (or expired, not yet purged) access token."""

    value: str = field(repr=False)
    family_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass(slots=True)
class Rotation:
    """What a rotated refresh token was exchanged for (the grace window answers it again)."""

    rotated_at: float
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: float
    scopes: frozenset[str]
    request: int | None = None  # the request number of the refresh that rotated it


@dataclass(slots=True)
class Family:
    """All tokens issued from one authorization code."""

    id: str
    client_id: str
    username: str
    account_id: int
    scopes: frozenset[str]
    policy: RefreshPolicy
    access: set[str] = field(default_factory=set, repr=False)
    # live refresh tokens -> expiry (None = never), least recently used first
    refresh: OrderedDict[str, float | None] = field(default_factory=OrderedDict, repr=False)
    rotated: OrderedDict[str, Rotation] = field(default_factory=OrderedDict, repr=False)


@dataclass(frozen=True, slots=True)
class Issued:
    """A token pair as handed to the client."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    scopes: frozenset[str]


class TokenBook:
    """The token tables and their expiry heaps. Callers hold the state lock."""

    def __init__(self, *, jwt: bool = False) -> None:
        self.jwt = jwt
        self._jwt_key = secrets.token_bytes(32)
        self.clear()

    def clear(self) -> None:
        """Forget every code and token."""
        self.codes: dict[str, Code] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, str] = {}  # refresh token -> family id
        self.rotated: dict[str, str] = {}  # rotated refresh token -> family id
        self.families: dict[str, Family] = {}
        self._code_heap: list[tuple[float, str]] = []
        self._access_heap: list[tuple[float, str]] = []
        self._refresh_heap: list[tuple[float, str]] = []
        # token value -> why it ended: a Verdict, or (what, expires_at, QA's time or None) for
        # an expiry, made a Verdict only when asked (purging runs on the benchmarked refresh).
        self.ended: OrderedDict[str, Verdict | _Expiry] = OrderedDict()
        self.qa_expiry: dict[str, float] = {}  # token value -> when QA set its expiry

    def _end(self, value: str, why: Verdict | _Expiry) -> None:
        ended = self.ended
        ended[value] = why  # a value ends once, so it goes last without move_to_end
        if len(ended) > MAX_ENDED:
            ended.popitem(last=False)

    def _expired(self, what: str, value: str, expires_at: float) -> _Expiry:
        return (what, expires_at, self.qa_expiry.pop(value, None) if self.qa_expiry else None)

    def why_ended(self, value: str, what: str) -> Verdict:
        """The verdict for a token or code that is no longer live."""
        why = self.ended.get(value)
        if why is None:
            return verdicts.unknown(what)
        if isinstance(why, Verdict):
            return why
        return verdicts.expired(*why)

    # -- codes ---------------------------------------------------------------------------------
    def add_code(self, code: Code) -> None:
        """Remember a new authorization code until it expires."""
        self.codes[code.value] = code
        heapq.heappush(self._code_heap, (code.expires_at, code.value))

    # -- issuing -------------------------------------------------------------------------------
    def _access_value(self, family: Family, now: float, expires_at: float, scopes: frozenset[str]) -> str:
        if not self.jwt:
            return entropy.token_urlsafe()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "mock"}).encode())
        claims = {
            "ver": 1,
            "jti": secrets.token_urlsafe(12),
            "iss": "mock-aweber",
            "aud": "mock-aweber",
            "iat": int(now),
            "exp": int(expires_at),
            "cid": family.client_id,
            "sub": family.username,
            "uid": family.username,
            "scp": sorted(scopes),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._jwt_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def _new_access(self, family: Family, now: float, ttl: int, scopes: frozenset[str]) -> AccessToken:
        expires_at = now + ttl
        token = AccessToken(
            self._access_value(family, now, expires_at, scopes), family.id, scopes, expires_at
        )
        self.access[token.value] = token
        family.access.add(token.value)
        heapq.heappush(self._access_heap, (expires_at, token.value))
        return token

    def _new_refresh(self, family: Family, now: float) -> str:
        value = entropy.token_urlsafe()
        ttl = family.policy.refresh_token_ttl
        expires_at = None if ttl is None else now + ttl
        family.refresh[value] = expires_at
        self.refresh[value] = family.id
        if expires_at is not None:
            heapq.heappush(self._refresh_heap, (expires_at, value))
        while len(family.refresh) > MAX_KEPT_REFRESH_TOKENS:
            old, _ = family.refresh.popitem(last=False)
            self.refresh.pop(old, None)
            self.qa_expiry.pop(old, None)
        return value

    def new_family(
        self,
        *,
        client_id: str,
        username: str,
        account_id: int,
        scopes: frozenset[str],
        policy: RefreshPolicy,
        now: float,
        access_ttl: int,
        with_refresh: bool,
    ) -> tuple[Family, Issued]:
        """Open a grant and issue its first pair."""
        family = Family(secrets.token_hex(8), client_id, username, account_id, scopes, policy)
        self.families[family.id] = family
        access = self._new_access(family, now, access_ttl, scopes)
        refresh = self._new_refresh(family, now) if with_refresh else None
        return family, Issued(access.value, refresh, access.expires_at, scopes)

    def refresh_family(
        self,
        family: Family,
        used: str,
        *,
        now: float,
        access_ttl: int,
        scopes: frozenset[str],
        request: int | None = None,
    ) -> Issued:
        """Exchange the live refresh token ``used`` following the family's policy."""
        policy = family.policy
        access = self._new_access(family, now, access_ttl, scopes)
        if not policy.rotate:
            self.qa_expiry.pop(used, None)  # its life restarts: QA's setting is spent
            ttl = policy.refresh_token_ttl
            expires_at = None if ttl is None else now + ttl  # a long-lived token's life restarts on use
            family.refresh[used] = expires_at
            family.refresh.move_to_end(used)
            if expires_at is not None:
                heapq.heappush(self._refresh_heap, (expires_at, used))
            return Issued(access.value, used, access.expires_at, scopes)
        if policy.keep_old_refresh_token:
            family.refresh.move_to_end(used)
            new = self._new_refresh(family, now)
            return Issued(access.value, new, access.expires_at, scopes)
        del family.refresh[used]
        self.refresh.pop(used, None)
        new = self._new_refresh(family, now)
        family.rotated[used] = Rotation(now, access.value, new, access.expires_at, scopes, request)
        self.rotated[used] = family.id
        while len(family.rotated) > MAX_REMEMBERED_ROTATIONS:
            old, _ = family.rotated.popitem(last=False)
            self.rotated.pop(old, None)
        return Issued(access.value, new, access.expires_at, scopes)

    # -- ending --------------------------------------------------------------------------------
    def drop_family(self, family_id: str, verdict: Verdict | None = None) -> int:
        """Revoke every token of a family; returns how many live access/refresh tokens died.

        ``verdict`` (why) is remembered for each of its tokens, the rotated ones included.
        """
        family = self.families.pop(family_id, None)
        if family is None:
            return 0
        count = 0
        for value in family.access:
            self.qa_expiry.pop(value, None)
            if self.access.pop(value, None) is not None:
                count += 1
                if verdict is not None:
                    self._end(value, verdict)
        for value in family.refresh:
            self.qa_expiry.pop(value, None)
            if self.refresh.pop(value, None) is not None:
                count += 1
                if verdict is not None:
                    self._end(value, verdict)
        for value in family.rotated:
            self.rotated.pop(value, None)
            if verdict is not None:
                self._end(value, verdict)
        return count

    def drop_access(self, value: str, verdict: Verdict | _Expiry | None = None) -> bool:
        """Revoke one access token (remembering ``verdict`` for it)."""
        token = self.access.pop(value, None)
        if token is None:
            return False
        if self.qa_expiry:
            self.qa_expiry.pop(value, None)
        if verdict is not None:
            self._end(value, verdict)
        family = self.families.get(token.family_id)
        if family is not None:
            family.access.discard(value)
            self._maybe_drop(family)
        return True

    def _maybe_drop(self, family: Family) -> None:
        if not family.access and not family.refresh:
            self.drop_family(family.id)

    def expire_access(self, value: str, now: float, in_seconds: float = 0.0) -> None:
        """Make a live access token expire ``in_seconds`` from now (QA's doing)."""
        token = self.access[value]
        token.expires_at = now + in_seconds
        self.qa_expiry[value] = now
        heapq.heappush(self._access_heap, (token.expires_at, value))

    def set_refresh_lifetime(self, family: Family, value: str, now: float, seconds: float) -> None:
        """Make a live refresh token of ``family`` expire ``seconds`` from now (QA's doing)."""
        expires_at = now + seconds
        family.refresh[value] = expires_at
        self.qa_expiry[value] = now
        heapq.heappush(self._refresh_heap, (expires_at, value))

    def access_verdict(self, token: AccessToken) -> Verdict:
        """Why a live but expired access token is refused."""
        return verdicts.expired("the access token", token.expires_at, self.qa_expiry.get(token.value))

    def refresh_verdict(self, value: str, expires_at: float) -> Verdict:
        """Why a live but expired refresh token is refused."""
        return verdicts.expired("the refresh token", expires_at, self.qa_expiry.get(value))

    def purge(self, now: float) -> None:
        """Forget expired codes, access tokens and refresh tokens (and grants left empty)."""
        heap = self._code_heap
        while heap and heap[0][0] <= now:
            _, value = heapq.heappop(heap)
            code = self.codes.get(value)
            if code is not None and code.expires_at <= now:
                del self.codes[value]
                self._end(value, ("the authorization code", code.expires_at, None))
        heap = self._access_heap
        while heap and heap[0][0] <= now:
            _, value = heapq.heappop(heap)
            token = self.access.get(value)
            if token is not None and token.expires_at <= now:
                self.drop_access(value, self._expired("the access token", value, token.expires_at))
        heap = self._refresh_heap
        while heap and heap[0][0] <= now:
            _, value = heapq.heappop(heap)
            family_id = self.refresh.get(value)
            family = self.families.get(family_id) if family_id else None
            if family is None:
                continue
            expires_at = family.refresh.get(value)
            if expires_at is not None and expires_at <= now:
                del family.refresh[value]
                del self.refresh[value]
                self._end(value, self._expired("the refresh token", value, expires_at))
                self._maybe_drop(family)

    def live_view(self, now: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Live codes and tokens, values redacted, with seconds left: (codes, tokens)."""
        codes = [
            {
                "code": redact(c.value),
                "client_id": c.client_id,
                "username": c.username,
                "scopes": sorted(c.scopes),
                "expires_at": c.expires_at,
                "expires_in": round(c.expires_at - now, 3),
            }
            for c in self.codes.values()
            if not c.used and c.expires_at > now
        ]
        tokens: list[dict[str, Any]] = []
        for family in self.families.values():
            common = {"grant": family.id, "client_id": family.client_id, "username": family.username}
            for value in family.access:
                access = self.access[value]
                if access.expires_at > now:
                    tokens.append(
                        {
                            "type": "access",
                            "token": redact(value),
                            **common,
                            "scopes": sorted(access.scopes),
                            "expires_at": access.expires_at,
                            "expires_in": round(access.expires_at - now, 3),
                        }
                    )
            for value, expires_at in family.refresh.items():
                tokens.append(
                    {
                        "type": "refresh",
                        "token": redact(value),
                        **common,
                        "scopes": sorted(family.scopes),
                        "expires_at": expires_at,
                        "expires_in": None if expires_at is None else round(expires_at - now, 3),
                    }
                )
        return codes, tokens

    def sizes(self) -> dict[str, int]:
        """How many records each table holds (for memory checks)."""
        return {
            "codes": len(self.codes),
            "access": len(self.access),
            "refresh": len(self.refresh),
            "rotated": len(self.rotated),
            "families": len(self.families),
            "heaps": len(self._code_heap) + len(self._access_heap) + len(self._refresh_heap),
            "ended": len(self.ended),
        }
