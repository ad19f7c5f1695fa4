"""A Redis store (redis-py) for installs served from many hosts.

URL: ``redis://[[user]:password@]host[:port][/db][?prefix=oob-helper:]`` (``rediss://`` for
TLS, ``unix:///path.sock?db=0``); other query parameters go to redis-py (e.g.
``socket_timeout=5``). Every key starts with ``prefix`` so one Redis can hold several stores.

Layout (all under the prefix):

- ``rec:<install>``: a hash ``{v: version, d: record JSON}``; ``installs``: a sorted set of install
  names (score 0, so it sorts by name) for listing.
- ``att:<sha256(attempt id)>``: the attempt's JSON, with a key expiry as a safety net of its
  time to live plus an hour (the caller's clock decides expiry; Redis's own clock only cleans up);
  ``att_exp``: a sorted set by ``expires_at`` for ``purge_attempts``; ``att_by:<install>``: the
  install's attempt keys, for ``delete``.
- ``settings``: a hash.
- ``once:<key>``: ``claim_once``'s keys, holding their ``expires_at`` (checked against the
  caller's clock in a script), with a key expiry as a safety net like an attempt's.
- ``lock:<install>``: ``SET NX PX lease`` (in a script that also accepts "already mine", for a
  retried call whose reply was lost) holding a random holder token; released by a Lua script
  only while it still holds that token, so a holder whose lease ran out cannot free its
  successor's lock. Writes are compare-and-set in Lua, so such a holder cannot overwrite a newer
  record either (fencing by version).

Scripts touch keys they compute from the prefix, so this store needs a single Redis (or a
replicated primary), not Redis Cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oob_helper.crypto import TokenCipher
from oob_helper.errors import ConfigurationError, StoreError
from oob_helper.stores._codec import KEY_CHECK_SETTING, Codec, attempt_key, verify_keys
from oob_helper.stores._common import Lease, batched, conflict, leased_lock, redact_url, with_version
from oob_helper.tokens import InstallRecord, PendingAttempt

try:
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]

_PUT = """
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '' then
  if cur then return {0, cur} end
elseif cur ~= ARGV[1] then
  return {0, cur or ''}
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
return {1, ARGV[2]}
"""

_TAKE = """
local value = redis.call('GETDEL', KEYS[1])
if value then redis.call('ZREM', KEYS[2], KEYS[1]) end
return value
"""

_DELETE = """
if ARGV[2] ~= '' then
  local cur = redis.call('HGET', KEYS[1], 'v')
  if not cur then return 0 end
  if cur ~= ARGV[2] then return -1 end
end
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local attempts = redis.call('SMEMBERS', KEYS[3])
for _, key in ipairs(attempts) do
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[4], key)
end
redis.call('DEL', KEYS[3])
return existed
"""

_PURGE = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = 0
for _, key in ipairs(old) do
  count = count + redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], key)
end
return count
"""

_ACQUIRE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# claim_once: the caller's clock decides expiry (the value is expires_at); the key's own TTL
# only cleans up, like an attempt's.
_CLAIM = """
local until_at = redis.call('GET', KEYS[1])
if until_at and tonumber(until_at) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

_PAGE = 500
_SAFETY_TTL = 3600  # seconds added to an attempt's lifetime before Redis drops its key


class RedisStore:
    """A TokenStore in Redis (see the module docstring for the layout and guarantees)."""

    def __init__(self, url: str, *, cipher: TokenCipher | None = None) -> None:
        if redis is None:
            raise ConfigurationError(
                "OOB_HELPER_STORE names a Redis store but redis-py is missing: "
                "pip install 'oob-helper[redis]'"
            )
        self.url = redact_url(url)
        self._codec = Codec(cipher)
        client_url, self.prefix = _split_prefix(url)
        options: dict[str, Any] = {
            "socket_timeout": 5.0,
            "socket_connect_timeout": 5.0,
            # A short retry: a restarting server is waited for briefly, a dead one reported.
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            "health_check_interval": 30,
        }
        query = dict(parse_qsl(urlsplit(client_url).query))
        for name in ("socket_timeout", "socket_connect_timeout", "health_check_interval"):
            if name in query:
                del options[name]
        try:
            self._client = redis.Redis.from_url(client_url, **options)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"OOB_HELPER_STORE={self.url!r} is not a usable Redis URL: {exc}"
            ) from None
        self._put = self._client.register_script(_PUT)
        self._take = self._client.register_script(_TAKE)
        self._delete = self._client.register_script(_DELETE)
        self._purge = self._client.register_script(_PURGE)
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)
        self._renew = self._client.register_script(_RENEW)
        self._claim = self._client.register_script(_CLAIM)
        self._installs = self._key("installs")
        verify_keys(self._codec, self._raw_key_check, self._write_key_check)

    def __repr__(self) -> str:
        return f"RedisStore(url={self.url!r}, prefix={self.prefix!r}, encrypted={self._codec.encrypted})"

    def describe(self) -> dict[str, Any]:
        """What the store is, for ``status``: backend name, whether tokens are encrypted, where."""
        return {"backend": "redis", "encrypted": self._codec.encrypted, "location": self.url}

    # -- records -------------------------------------------------------------------------

    def get(self, install: str) -> InstallRecord | None:
        """The install's record, or None."""
        with self._errors():
            version, data = self._client.hmget(self._key("rec:", install), ["v", "d"])
        if version is None or data is None:
            return None
        return self._codec.load_record(data, int(version))

    def put(self, record: InstallRecord, *, expected_version: int | None) -> InstallRecord:
        """Compare-and-set write, atomic in one Lua script; raises VersionConflict on a lost race."""
        new_version = 1 if expected_version is None else expected_version + 1
        new = with_version(record, new_version)
        text = self._codec.dump_record(new)
        expected = "" if expected_version is None else str(expected_version)
        with self._errors():
            ok, found = self._put(
                keys=[self._key("rec:", record.install), self._installs],
                args=[expected, str(new_version), text, record.install],
            )
        if int(ok) != 1:
            raise conflict(record.install, expected_version, int(found) if found else None)
        return new

    def import_record(self, record: InstallRecord) -> None:
        """Write ``record`` exactly as given (version included), replacing any (migrate-store)."""
        self.import_records([record])

    def import_records(self, records: Iterable[InstallRecord]) -> int:
        """``import_record`` for many records, a few hundred per MULTI; returns how many."""
        count = 0
        for batch in batched(records, _PAGE):
            with self._errors():
                pipe = self._client.pipeline(transaction=True)
                for record in batch:
                    mapping: dict[Any, Any] = {
                        "v": str(record.version),
                        "d": self._codec.dump_record(record),
                    }
                    pipe.hset(self._key("rec:", record.install), mapping=mapping)
                pipe.zadd(self._installs, {record.install: 0 for record in batch})
                pipe.execute()
            count += len(batch)
        return count

    def delete(self, install: str, *, expected_version: int | None = None) -> bool:
        """Forget the install and its attempts; True if it had a record (see ``TokenStore``)."""
        with self._errors():
            existed = self._delete(
                keys=[
                    self._key("rec:", install),
                    self._installs,
                    self._key("att_by:", install),
                    self._key("att_exp"),
                ],
                args=[install, "" if expected_version is None else str(expected_version)],
            )
        if int(existed) < 0:
            raise conflict(install, expected_version, self._version(install))
        return int(existed) > 0

    def _version(self, install: str) -> int | None:
        with self._errors():
            value = self._client.hget(self._key("rec:", install), "v")
        return None if value is None else int(value)

    def list_installs(self) -> list[str]:
        """Every install key with a record, sorted."""
        with self._errors():
            names = cast("list[bytes]", self._client.zrange(self._installs, 0, -1))
        return [_text(n) for n in names]

    def iter_records(self) -> Iterator[InstallRecord]:
        """Every record, ordered by install, read in pages."""
        start: str | bytes = "-"
        while True:
            with self._errors():
                names = cast(
                    "list[bytes]", self._client.zrangebylex(self._installs, start, "+", start=0, num=_PAGE)
                )
                pipe = self._client.pipeline(transaction=False)
                for name in names:
                    pipe.hmget(self._key("rec:", _text(name)), ["v", "d"])
                rows = pipe.execute()
            for version, data in rows:
                if version is not None and data is not None:
                    yield self._codec.load_record(data, int(version))
            if len(names) < _PAGE:
                return
            start = b"(" + names[-1]

    # -- attempts ------------------------------------------------------------------------

    def save_attempt(self, attempt: PendingAttempt) -> None:
        """Keep a pending attempt until it expires or is taken."""
        key = self._key("att:", attempt_key(attempt.attempt_id))
        ttl = max(int(attempt.expires_at - attempt.created_at), 1) + _SAFETY_TTL
        by_install = self._key("att_by:", attempt.install)
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.set(key, self._codec.dump_attempt(attempt), ex=ttl)
            pipe.zadd(self._key("att_exp"), {key: attempt.expires_at})
            pipe.sadd(by_install, key)
            pipe.expire(by_install, ttl)
            pipe.execute()

    def take_attempt(self, attempt_id: str) -> PendingAttempt | None:
        """Remove and return the attempt with GETDEL (single use); None if unknown or taken."""
        key = self._key("att:", attempt_key(attempt_id))
        with self._errors():
            value = self._take(keys=[key, self._key("att_exp")], args=[])
        return None if value is None else self._codec.load_attempt(value)

    def purge_attempts(self, now: float) -> int:
        """Drop attempts that expired before ``now``; returns how many."""
        with self._errors():
            count = self._purge(keys=[self._key("att_exp")], args=[repr(float(now))])
        return int(count)

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, name: str) -> str | None:
        """A store-wide setting, or None."""
        with self._errors():
            value = self._client.hget(self._key("settings"), name)
        return None if value is None else self._codec.load_setting(value)

    def set_setting_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` unless the setting exists; returns the value that is stored."""
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hsetnx(self._key("settings"), name, self._codec.dump_setting(value))
            pipe.hget(self._key("settings"), name)
            _, stored = pipe.execute()
        return self._codec.load_setting(stored)

    def set_setting(self, name: str, value: str) -> None:
        """Store ``value``, replacing any."""
        with self._errors():
            self._client.hset(self._key("settings"), name, self._codec.dump_setting(value))

    def rewrap_settings(self) -> int:
        """Re-encrypt every setting with the current key; returns how many changed."""
        with self._errors():
            stored = cast("dict[bytes, bytes]", self._client.hgetall(self._key("settings")))
            updates = {n: t for n, v in stored.items() if (t := self._codec.rewrap_setting(v))}
            if updates:
                self._client.hset(self._key("settings"), mapping=cast("dict[Any, Any]", updates))
        return len(updates)

    def _raw_key_check(self) -> bytes | None:
        with self._errors():
            return cast("bytes | None", self._client.hget(self._key("settings"), KEY_CHECK_SETTING))

    def _write_key_check(self, text: str, only_if_absent: bool) -> None:
        with self._errors():
            if only_if_absent:
                self._client.hsetnx(self._key("settings"), KEY_CHECK_SETTING, text)
            else:
                self._client.hset(self._key("settings"), KEY_CHECK_SETTING, text)

    # -- lock ----------------------------------------------------------------------------

    def lock(
        self, install: str, *, timeout: float = 30.0, lease: float = 60.0
    ) -> AbstractContextManager[Lease]:
        """The install's refresh lock across hosts: SET NX PX, renewed while held, released
        only by its holder."""
        key = self._key("lock:", install)
        holder = uuid.uuid4().hex
        lease_ms = max(int(lease * 1000), 1)

        def try_acquire() -> bool:
            # SET NX PX, but also "already mine": a retried call whose first reply was lost
            # must not wait out its own lease.
            with self._errors():
                return int(self._acquire(keys=[key], args=[holder, lease_ms])) == 1

        def renew() -> bool:
            with self._errors():
                return int(self._renew(keys=[key], args=[holder, lease_ms])) == 1

        def release() -> None:
            # If the server is unreachable now, the lease frees the lock when it runs out.
            with suppress(StoreError), self._errors():
                self._release(keys=[key], args=[holder])

        return leased_lock(
            install, timeout=timeout, duration=lease, try_acquire=try_acquire, renew=renew, release=release
        )

    def claim_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record ``key`` until ``expires_at`` unless it is recorded and live at ``now`` (Lua)."""
        ttl_ms = (max(int(expires_at - now), 1) + _SAFETY_TTL) * 1000
        with self._errors():
            claimed = self._claim(
                keys=[self._key("once:", key)], args=[repr(float(now)), repr(float(expires_at)), ttl_ms]
            )
        return bool(claimed)

    def release_claim(self, key: str) -> None:
        """Forget ``key``."""
        with self._errors():
            self._client.delete(self._key("once:", key))

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    # -- internals -----------------------------------------------------------------------

    def _key(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}{name}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.ConnectionError as exc:
            raise StoreError(
                f"Redis store {self.url} is unreachable ({_why_unreachable(exc)}); "
                "check that the server is running and reachable"
            ) from None
        except redis.RedisError as exc:
            message = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
            raise StoreError(f"Redis store {self.url} failed ({type(exc).__name__}: {message})") from None


def _why_unreachable(exc: BaseException) -> str:
    """``connection refused``: the socket's own reason, not redis-py's "Error 111 connecting ..."."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[:1].lower() + cause.strerror[1:]
    text = " ".join(str(exc).split()).rstrip(".")
    return text or type(exc).__name__


def _split_prefix(url: str) -> tuple[str, str]:
    """The URL for redis-py without our ``prefix`` parameter, and the prefix."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = "oob-helper:"
    rest = []
    for name, value in query:
        if name == "prefix":
            prefix = value
        else:
            rest.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
