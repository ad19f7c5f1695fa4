"""The Redis store beyond one server: URL forms, the move to hash-tagged keys, and a primary
with a replica behind three Sentinels that fails over in the middle of a refresh storm.

The Cluster runs the whole contract suite and the 50-storm race (``redis-cluster`` in
``stores.backends``); here are the parts only Sentinel and replication have.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores import servers
from stores.backends import unique, with_param
from stores.redis_topologies import SentinelServers, poll
from test_race import last_event_id, refresh_events
from workers.common import MutableClock, Target, connect, open_helper

from mock_server.config import MockConfig
from mock_server.runner import MockServer
from oob_helper.config import load_settings
from oob_helper.errors import ConfigurationError, StoreError
from oob_helper.helper import OAuthHelper
from oob_helper.stores import open_store
from oob_helper.stores.redis_conn import parse_redis_url
from oob_helper.tokens import InstallRecord, PendingAttempt, Token

# -- URLs ------------------------------------------------------------------------------------


def test_sentinel_and_cluster_urls_are_read_whole() -> None:
    target = parse_redis_url(
        "redis+sentinel://app:s3cret@10.0.0.1,10.0.0.2:26380,[::1]:26381/tokens/2"
        "?prefix=shop:&sentinel_password=sent1nel&wait_replicas=2&wait_timeout=0.5"
    )
    assert (target.mode, target.master, target.db, target.prefix) == ("sentinel", "tokens", 2, "shop:")
    assert target.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert target.options == {"username": "app", "password": "s3cret"}
    assert target.sentinel_options == {"password": "sent1nel"}
    assert (target.wait_replicas, target.wait_timeout, target.failover_timeout) == (2, 0.5, 30.0)
    cluster = parse_redis_url("rediss+cluster://:pw@a:7000,b?wait_replicas=0")
    assert (cluster.mode, cluster.hosts, cluster.tls, cluster.wait_replicas) == (
        "cluster",
        (("a", 7000), ("b", 6379)),
        True,
        0,
    )
    single = parse_redis_url("redis://h:1/3?prefix=x:&socket_timeout=2")
    assert (single.mode, single.wait_replicas, single.url) == (
        "single",
        None,
        "redis://h:1/3?socket_timeout=2",
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://:hunter2@h1,h2", "name the primary"),
        ("redis+sentinel://:hunter2@h1:notaport/m", "is not a port number"),
        ("redis+sentinel://:hunter2@h1,,h2/m", "every host needs a name"),
        ("redis+sentinel://:hunter2@h1/m/x", "is not a number"),
        ("redis+sentinel://h1/m?sentinel_password=hunter2&colour=red", "unknown parameter 'colour'"),
        ("redis+cluster://:hunter2@h1/3", "a cluster has no databases"),
        ("redis+cluster://:hunter2@h1?wait_replicas=some", "wait_replicas='some'"),
        ("redis://:hunter2@h1?wait_timeout=-1", "wait_timeout='-1'"),
        ("redis://:hunter2@h1?prefix={x}", "prefix must be non-empty"),
    ],
)
def test_bad_redis_urls_name_the_problem_and_hide_the_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store(url, encryption_keys=[])
    message = str(info.value)
    assert "OOB_HELPER_STORE" in message
    assert problem in message
    assert "hunter2" not in message


def test_an_unreachable_sentinel_is_a_clear_error_without_the_password() -> None:
    url = f"redis+sentinel://:hunter2@127.0.0.1:{servers.free_port()}/m?sentinel_password=hunter2"
    with pytest.raises(StoreError) as info:
        open_store(url, encryption_keys=[])
    assert "Redis store redis+sentinel://:***@127.0.0.1" in str(info.value)
    assert "hunter2" not in str(info.value)


# -- the move to hash-tagged keys ------------------------------------------------------------


def _record(install: str, n: int) -> InstallRecord:
    token = Token(access_token=f"access-{n}", refresh_token=f"refresh-{n}", obtained_at=float(n))
    return InstallRecord(install=install, token=token, state="connected")


def _untag(client: redis.Redis, prefix: str) -> None:
    """Turn a tagged store back into the layout earlier versions wrote (``<prefix>rec:...``)."""
    tag = "{" + prefix + "}"
    for key in list(client.scan_iter(match=tag + "*")):
        client.rename(key, prefix + key.decode()[len(tag) :])
    for key in [prefix + "att_exp", *(k.decode() for k in client.scan_iter(match=prefix + "att_by:*"))]:
        if client.type(key) == b"zset":
            members = client.zrange(key, 0, -1, withscores=True)
            client.delete(key)
            client.zadd(key, {prefix + m.decode()[len(tag) :]: s for m, s in members})
        else:
            members = client.smembers(key)
            client.delete(key)
            client.sadd(key, *(prefix + m.decode()[len(tag) :] for m in members))


def test_a_store_written_before_hash_tags_is_moved_in_place(request: pytest.FixtureRequest) -> None:
    base = servers.redis_url(request.config)
    prefix = unique("old") + ":"
    url = with_param(base, "prefix", prefix)
    store = open_store(url, encryption_keys=[])
    store.put(_record("a.example", 1), expected_version=None)
    store.put(_record("b.example", 1), expected_version=None)
    store.set_setting_if_absent("secret_key", "kept")
    for n, install in enumerate(("a.example", "a.example", "b.example")):
        store.save_attempt(
            PendingAttempt(f"att-{n}", install, f"s{n}", "urn:ietf:wg:oauth:2.0:oob", (), 0.0, 600.0 + n)
        )
    store.close()
    client = redis.Redis.from_url(base)
    _untag(client, prefix)
    assert not list(client.scan_iter(match="{" + prefix + "}*"))

    moved = open_store(url, encryption_keys=[])
    assert not list(client.scan_iter(match=prefix + "*")), "every old key was renamed"
    assert moved.list_installs() == ["a.example", "b.example"]
    a = moved.get("a.example")
    assert a is not None
    assert a.token is not None
    assert a.token.refresh_token == "refresh-1"
    assert moved.put(_record("a.example", 2), expected_version=a.version).version == a.version + 1
    assert moved.get_setting("secret_key") == "kept"
    taken = moved.take_attempt("att-0")
    assert taken is not None
    assert taken.install == "a.example"
    assert moved.delete("a.example")  # and with it its remaining attempt, found through att_by
    assert moved.take_attempt("att-1") is None
    assert moved.purge_attempts(10_000.0) == 1  # b's attempt, found through att_exp
    moved.close()
    client.close()


# -- Sentinel, replicas and WAIT -------------------------------------------------------------

PASSWORD = "primary-pw-51"
INSTALLS = 8
THREADS = 4


@pytest.fixture
def sentinel() -> Iterator[SentinelServers]:
    group = SentinelServers(password=PASSWORD)
    try:
        yield group
    finally:
        group.cleanup()


@pytest.fixture
def aweber_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig()) as mock:  # the default profile: a refresh kills the old token
        mock.set_clock(frozen=True)
        yield mock
        mock.check_errors()


def test_a_write_waits_for_the_replica(sentinel: SentinelServers) -> None:
    url = f"{sentinel.url}?prefix=w:&wait_timeout=0.1&failover_timeout=0.5"
    store = open_store(url, encryption_keys=[])
    assert PASSWORD not in repr(store) + str(store.describe())  # type: ignore[attr-defined]
    first = store.put(_record("a.example", 1), expected_version=None)
    assert sentinel.proxy is not None
    sentinel.proxy.hold()  # the replica hears nothing more
    with pytest.raises(StoreError, match=r"not safely replicated within 0\.5s \(0 of 1 replicas"):
        store.put(_record("a.example", 2), expected_version=first.version)
    store.close()


class Storm:
    """Threads refreshing their installs over and over through one helper, until stopped."""

    def __init__(self, helper: OAuthHelper, installs: list[str]) -> None:
        self.helper = helper
        self.stop = threading.Event()
        self.refreshed: list[str] = []
        self.failures: list[str] = []
        self.unexpected: list[BaseException] = []
        self.progress = threading.Condition()
        self.threads = [
            threading.Thread(target=self._run, args=(installs[i::THREADS],)) for i in range(THREADS)
        ]

    def _run(self, installs: list[str]) -> None:
        while not self.stop.is_set():
            for install in installs:
                try:
                    outcome = self.helper.refresh(install)
                except StoreError as exc:  # the primary is down: nothing reached the provider
                    outcome_text = f"store: {exc}"
                except BaseException as exc:
                    self.unexpected.append(exc)
                    return
                else:
                    outcome_text = outcome.result if outcome.error is None else outcome.error
                with self.progress:
                    (self.refreshed if outcome_text == "refreshed" else self.failures).append(install)
                    self.progress.notify_all()

    def outcomes(self) -> int:
        return len(self.refreshed) + len(self.failures)

    def wait_for(self, outcomes: int) -> None:
        """Until the threads have finished ``outcomes`` refreshes, successful or not."""
        with self.progress:
            assert self.progress.wait_for(
                lambda: self.outcomes() >= outcomes or bool(self.unexpected), timeout=120
            ), (len(self.refreshed), self.failures[-3:])
        assert not self.unexpected, self.unexpected

    def __enter__(self) -> Storm:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)


def _failover_mid_storm(mock: MockServer, sentinel: SentinelServers, wait_replicas: str) -> dict[str, str]:
    """Run a storm, hold the replication link, let refreshes rotate tokens at the provider,
    kill the primary, fail over, storm on; then try every install's stored refresh token."""
    url = f"{sentinel.url}?prefix=s:&wait_replicas={wait_replicas}&wait_timeout=0.2"
    target = Target(mock.url, "demo-confidential", "demo-secret", profile="aweber")
    clock = MutableClock(mock.now())
    installs = [f"site{i}.example" for i in range(INSTALLS)]
    with open_helper(target, url, clock) as helper:
        for install in installs:
            connect(mock, helper, install)
        with Storm(helper, installs) as storm:
            storm.wait_for(2 * INSTALLS)
            assert sentinel.proxy is not None
            sentinel.proxy.hold()
            since = last_event_id(mock)
            # Provider rotations the replica has not heard of (the threads may be blocked in
            # WAIT, so there is no event from them to wait on).
            poll(lambda: len(refresh_events(mock, since)) >= THREADS, "refreshes during the hold")
            sentinel.kill_primary_and_wait_for_failover()
            storm.wait_for(storm.outcomes() + 2 * INSTALLS)
    with open_helper(target, url, clock) as after:
        # A lock the replica heard taken but not released (its holder's release went to the
        # dead primary) outlives the failover until its lease runs out. With the default 30 s
        # wait below the 60 s lease, this check timed out on one such install (CI, 2026-12-04);
        # it now waits out a whole lease. Nothing is lost meanwhile: the lock only delays.
        after.records.lock_timeout = helper.records.lease + 15
        return {install: after.refresh(install).result for install in installs}


@pytest.mark.slow
def test_with_replica_acknowledgement_a_failover_loses_no_refresh_token(
    aweber_mock: MockServer, sentinel: SentinelServers
) -> None:
    results = _failover_mid_storm(aweber_mock, sentinel, "auto")
    assert results == dict.fromkeys(results, "refreshed")


@pytest.mark.slow
def test_without_it_the_failover_drops_rotated_tokens(
    aweber_mock: MockServer, sentinel: SentinelServers
) -> None:
    # What wait_replicas=auto prevents: writes the primary took but never passed on vanish
    # with it, and the replica that takes over holds refresh tokens the provider has retired.
    results = _failover_mid_storm(aweber_mock, sentinel, "0")
    lost = [install for install, result in results.items() if result == "reauthorization_required"]
    assert lost, results


def test_the_settings_accept_the_multi_host_forms_and_check_them() -> None:
    base = {"OOB_HELPER_CLIENT_ID": "app"}
    for url in ("redis+sentinel://:pw@s1,s2:26380/tokens", "redis+cluster://n1:7000,n2:7001"):
        settings = load_settings(overrides={}, environ={**base, "OOB_HELPER_STORE": url}, config_file=None)
        assert settings.store_url == url
    bad = {**base, "OOB_HELPER_STORE": "redis+sentinel://:pw@s1"}
    with pytest.raises(ConfigurationError, match="name the primary") as info:
        load_settings(overrides={}, environ=bad, config_file=None)
    assert ":pw@" not in str(info.value)
