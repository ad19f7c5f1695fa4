"""A Redis store (redis-py) for installs served from many hosts: one server, a Cluster, or a
primary found through Sentinel (URL forms and options: ``redis_conn``; guarantees and costs:
``oob_helper/stores/README.md``).

Layout: every key starts with the hash tag ``{<prefix>}`` (default ``{oob-helper:}``), so one
Redis can hold several stores and all of one store's keys live in one Cluster slot, which lets
every script run atomically on a Cluster too:

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

A store written before hash tags (keys ``<prefix>rec:...``) is renamed in place, atomically,
the first time this version opens it.

With replicas, each token write is followed by ``WAIT`` on the same connection (see
``_Replication``), so a failover cannot drop a refresh token the provider has already rotated.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, cast
from urllib.parse import urlsplit

from oob_helper.crypto import TokenCipher
from oob_helper.errors import ConfigurationError, StoreError
from oob_helper.stores import _redis_scripts as lua
from oob_helper.stores._codec import KEY_CHECK_SETTING, Codec, attempt_key, verify_keys
from oob_helper.stores._common import Lease, batched, conflict, leased_lock, redact_url, with_version
from oob_helper.stores.redis_conn import RedisTarget, connect, parse_redis_url
from oob_helper.tokens import InstallRecord, PendingAttempt

try:
    import redis
    import redis.cluster
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]

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
        self._target: RedisTarget = parse_redis_url(url)
        self.prefix = self._target.prefix
        self._tag = "{" + self.prefix + "}"
        defaults: dict[str, Any] = {
            "socket_timeout": 5.0,
            "socket_connect_timeout": 5.0,
            # A short retry: a restarting server is waited for briefly, a dead one reported.
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            "health_check_interval": 30,
        }
        try:
            self._client = connect(self._target, defaults)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"OOB_HELPER_STORE={self.url!r} is not a usable Redis URL: {exc}"
            ) from None
        except redis.RedisError as exc:
            raise self._failed(exc) from None
        self._put = self._client.register_script(lua.PUT)
        self._import = self._client.register_script(lua.IMPORT)
        self._take = self._client.register_script(lua.TAKE)
        self._delete = self._client.register_script(lua.DELETE)
        self._purge = self._client.register_script(lua.PURGE)
        self._acquire = self._client.register_script(lua.ACQUIRE)
        self._release = self._client.register_script(lua.RELEASE)
        self._renew = self._client.register_script(lua.RENEW)
        self._claim = self._client.register_script(lua.CLAIM)
        self._installs = self._key("installs")
        self._replication = _Replication(self)
        if self._target.mode != "cluster":
            self._migrate_untagged()
        verify_keys(self._codec, self._raw_key_check, self._write_key_check)

    def __repr__(self) -> str:
        return f"RedisStore(url={self.url!r}, prefix={self.prefix!r}, encrypted={self._codec.encrypted})"

    def location(self) -> str:
        """Where this store lives: the server (or Sentinel master name, or cluster seed nodes),
        database and key prefix. Redis keeps no identity of its own that outlives a restart, so
        reaching the same server by another name counts as a move (``adopt-store``)."""
        target = self._target
        if target.mode == "sentinel":
            where = f"sentinel:{target.master}/{target.db}"
        elif target.mode == "cluster":
            where = "cluster:" + ",".join(sorted(f"{host}:{port}" for host, port in target.hosts))
        else:
            parts = urlsplit(target.url)
            db = parts.path.strip("/") or str(target.db)
            where = f"{parts.hostname or parts.path}:{parts.port or 6379}/{db}"
        return f"redis:{where}#{self.prefix}"

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
        ok, found = self._replication.write(
            self._put,
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
            args: list[str] = []
            for record in batch:
                args += [str(record.version), self._codec.dump_record(record), record.install]
            keys = [self._key("rec:", record.install) for record in batch]
            self._replication.write(self._import, keys=[*keys, self._installs], args=args)
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

    def iter_records(self, after: str = "") -> Iterator[InstallRecord]:
        """Every record (of an install sorting after ``after``), ordered by install, read in pages."""
        start: str | bytes = b"(" + after.encode("utf-8") if after else "-"
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
            # must not wait out its own lease. Replicated like a token write: a lock that a
            # failover forgot would let a second worker refresh with the same refresh token.
            return int(self._replication.write(self._acquire, keys=[key], args=[holder, lease_ms])) == 1

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
        return f"{self._tag}{kind}{name}"

    def _migrate_untagged(self) -> None:
        """Rename a store written before hash tags, once, atomically (single server only)."""
        old = self.prefix
        with self._errors():
            if not self._client.exists(old + "installs", old + "settings", old + "att_exp"):
                return
            glob = re.sub(r"([*?\[\]\\])", r"\\\1", old)
            kinds = ("rec:*", "att:*", "att_by:*", "lock:*", "once:*", "installs", "att_exp", "settings")
            script = self._client.register_script(lua.MIGRATE_UNTAGGED)
            script(keys=[], args=[old, self._tag, *(glob + kind for kind in kinds)])

    def _failed(self, exc: Exception) -> StoreError:
        if isinstance(exc, redis.ConnectionError):
            return StoreError(
                f"Redis store {self.url} is unreachable ({_why_unreachable(exc)}); "
                "check that the server is running and reachable"
            )
        message = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
        return StoreError(f"Redis store {self.url} failed ({type(exc).__name__}: {message})")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise self._failed(exc) from None


def _why_unreachable(exc: BaseException) -> str:
    """``connection refused``: the socket's own reason, not redis-py's "Error 111 connecting ..."."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[:1].lower() + cause.strerror[1:]
    text = " ".join(str(exc).split()).rstrip(".")
    return text or type(exc).__name__


class _Replication:
    """Token writes that wait for replicas to acknowledge them (Redis ``WAIT``).

    Redis replicates asynchronously: a primary that dies right after a write may take it with
    it, and a rotated refresh token is then lost for good. So a write and its ``WAIT`` go down
    one connection (``WAIT`` counts that connection's writes). A write that fails on the
    connection (the primary died) or is not acknowledged in time is sent again, to whichever
    server is primary by then, for up to ``failover_timeout``: the scripts accept a repeat of a
    write that landed. ``wait_replicas=auto`` waits for one replica while the primary reports
    any (rechecked every 30 s and after every failure), so after a failover that left the new
    primary alone, writes go on without waiting.
    """

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._target = store._target
        self._auto: int | None = None
        self._auto_at = 0.0
        # Only a deployment with replicas fails over: without, a dead server is reported at once.
        self._replicated = bool(self._target.wait_replicas)

    def write(self, script: Any, *, keys: list[str], args: list[Any]) -> Any:
        """Run ``script``; with replicas, return only once enough of them have it."""
        store = self._store
        deadline = time.monotonic() + self._target.failover_timeout
        problem = ""
        while True:
            try:
                need = self._needed()
                if need == 0:
                    return script(keys=keys, args=args)
                pipe = self._node().pipeline(transaction=False)
                script(keys=keys, args=args, client=pipe)
                pipe.wait(need, max(int(self._target.wait_timeout * 1000), 1))
                result, acked = pipe.execute()
                if int(acked) >= need:
                    return result
                self._auto = None  # did the replicas go away, or are they slow?
                if int(acked) >= self._needed():
                    return result
                problem = f"{acked} of {need} replicas acknowledged it within {self._target.wait_timeout:g}s"
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if not self._replicated:
                    raise store._failed(exc) from None
                self._auto = None
                problem = f"{type(exc).__name__}: {exc}"
            except redis.RedisError as exc:
                raise store._failed(exc) from None
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"Redis store {store.url}: a token write was not safely replicated within "
                    f"{self._target.failover_timeout:g}s ({problem}); check the primary and its "
                    "replicas (or lower wait_replicas)"
                )
            time.sleep(0.05)  # a failover takes seconds; do not hammer the Sentinels meanwhile

    def _needed(self) -> int:
        if self._target.wait_replicas is not None:
            return self._target.wait_replicas
        if self._auto is None or time.monotonic() - self._auto_at > 30:
            info = self._node().info("replication")
            self._auto = 1 if int(info.get("connected_slaves", 0)) > 0 else 0
            self._auto_at = time.monotonic()
            self._replicated = self._replicated or self._auto > 0
        return self._auto

    def _node(self) -> Any:
        """The client of the server holding the store (on a Cluster: the primary of its slot)."""
        client: Any = self._store._client
        if not isinstance(client, redis.cluster.RedisCluster):
            return client
        cluster: Any = client  # redis-py's cluster methods have no type hints
        return cluster.get_redis_connection(cluster.get_node_from_key(self._store._installs))


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
