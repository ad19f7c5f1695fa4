"""Reading a Redis store URL and connecting: one server, a Redis Cluster, or through Sentinel.

- ``redis://[[user]:password@]host[:port][/db]`` (``rediss://`` for TLS, ``unix:///path.sock``):
  one server; query parameters other than ours go to redis-py (e.g. ``socket_timeout=5``).
- ``redis+cluster://[[user]:password@]host[:port][,host[:port]...]``: a Redis Cluster, any of
  its nodes to start from (``rediss+cluster://`` for TLS).
- ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/MASTER[/db]``: the primary
  that the Sentinels (default port 26379) name ``MASTER``; the password is the primary's,
  ``sentinel_password=`` the Sentinels' own if they need one (``rediss+sentinel://`` for TLS).

Our parameters, on every form: ``prefix`` (default ``oob-helper:``), ``wait_replicas`` (``auto``,
the default: wait for one replica whenever the primary has any; ``0``: never; ``N``: N replicas),
``wait_timeout`` (seconds per wait, default 1) and ``failover_timeout`` (seconds a token write
keeps retrying through a failover, default 30). Everything is checked here, before connecting,
so a mistake is a ConfigurationError that names it (never showing a password).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from oob_helper.errors import ConfigurationError
from oob_helper.stores._common import redact_url

_OURS = ("prefix", "wait_replicas", "wait_timeout", "failover_timeout")
_SOCKET = ("socket_timeout", "socket_connect_timeout")
_MULTI_HOST = {"redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel"}


@dataclass(frozen=True)
class RedisTarget:
    """What a Redis store URL asks for (parsed and validated, nothing connected yet)."""

    mode: str  # "single" | "cluster" | "sentinel"
    prefix: str = "oob-helper:"
    wait_replicas: int | None = None  # None: auto
    wait_timeout: float = 1.0
    failover_timeout: float = 30.0
    url: str = ""  # for "single": the URL handed to redis-py
    hosts: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    tls: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # connection keyword arguments
    sentinel_options: dict[str, Any] = field(default_factory=dict)


class _Bad(Exception):
    """What is wrong with the URL (turned into the ConfigurationError by ``parse_redis_url``)."""


def parse_redis_url(url: str, source: str = "OOB_HELPER_STORE") -> RedisTarget:
    """The target ``url`` names; ConfigurationError naming the mistake (and the fix) if it is
    wrong, and ``source`` (where the URL came from: the variable, ``--store``, a config file)."""
    shown = redact_url(url)
    try:
        return _parse(url)
    except _Bad as exc:
        raise ConfigurationError(f"{source}: {shown!r} is not a usable Redis URL: {exc}") from None


def _parse(url: str) -> RedisTarget:
    scheme = url.partition("://")[0].lower()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _Bad(str(exc)) from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {name: value for name, value in query if name in _OURS}
    common = _common(ours)
    if scheme not in _MULTI_HOST:
        rest = [(name, value) for name, value in query if name not in _OURS]
        try:
            _ = parts.port
        except ValueError as exc:
            raise _Bad(str(exc)) from None
        return RedisTarget(mode="single", url=urlunsplit(parts._replace(query=urlencode(rest))), **common)
    allowed = {*_OURS, *_SOCKET} | ({"sentinel_password"} if "sentinel" in scheme else set())
    unknown = sorted({name for name, _ in query} - allowed)
    if unknown:
        raise _Bad(f"unknown parameter {unknown[0]!r}; this form takes {', '.join(sorted(allowed))}")
    extra = dict(query)
    options: dict[str, Any] = {name: _seconds(name, extra[name]) for name in _SOCKET if name in extra}
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    if userinfo:
        user, _, password = userinfo.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    tls = scheme.startswith("rediss")
    if "cluster" in scheme:
        if parts.path not in ("", "/"):
            raise _Bad("a cluster has no databases: leave the path empty")
        hosts = _hosts(hostlist, 6379)
        return RedisTarget(mode="cluster", hosts=hosts, tls=tls, options=options, **common)
    hosts = _hosts(hostlist, 26379)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise _Bad("name the primary: redis+sentinel://host:26379,host:26379/MASTER_NAME[/db]")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise _Bad(f"the database {path[1]!r} is not a number")
        db = int(path[1])
    sentinel_options = {name: options[name] for name in _SOCKET if name in options}
    if extra.get("sentinel_password"):
        sentinel_options["password"] = extra["sentinel_password"]
    return RedisTarget(
        mode="sentinel",
        hosts=hosts,
        master=unquote(path[0]),
        db=db,
        tls=tls,
        options=options,
        sentinel_options=sentinel_options,
        **common,
    )


def _common(ours: dict[str, str]) -> dict[str, Any]:
    prefix = ours.get("prefix", "oob-helper:")
    if not prefix or "{" in prefix or "}" in prefix:
        raise _Bad("prefix must be non-empty and without { or } (the store puts it in a hash tag)")
    wait = ours.get("wait_replicas", "auto")
    if wait != "auto" and not wait.isdigit():
        raise _Bad(f"wait_replicas={wait!r}: use auto, 0 (never wait) or a number of replicas")
    return {
        "prefix": prefix,
        "wait_replicas": None if wait == "auto" else int(wait),
        "wait_timeout": _seconds("wait_timeout", ours.get("wait_timeout", "1")),
        "failover_timeout": _seconds("failover_timeout", ours.get("failover_timeout", "30")),
    }


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86400:
        raise _Bad(f"{name}={value!r} is not a number of seconds above 0")
    return seconds


def _hosts(hostlist: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = []
    for item in hostlist.split(","):
        host, port = item, str(default_port)
        if item.startswith("["):  # [IPv6]:port
            host, _, after = item[1:].partition("]")
            if after:
                port = after.removeprefix(":")
        elif ":" in item:
            host, _, port = item.rpartition(":")
        if not host:
            raise _Bad("every host needs a name: host[:port],host[:port]")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise _Bad(f"the port {port!r} of {host} is not a port number")
        hosts.append((host, int(port)))
    return tuple(hosts)


def connect(target: RedisTarget, defaults: dict[str, Any]) -> Any:
    """A redis-py client for ``target`` (``defaults``: timeouts and retry the URL may override)."""
    import redis  # noqa: PLC0415 - the caller has checked that the extra is installed
    import redis.cluster  # noqa: PLC0415
    import redis.sentinel  # noqa: PLC0415

    # Parts of redis-py without type hints.
    cluster_node: Any = redis.cluster.ClusterNode
    sentinel_class: Any = redis.sentinel.Sentinel

    if target.mode == "single":
        query = dict(parse_qsl(urlsplit(target.url).query))
        options = {name: value for name, value in defaults.items() if name not in query}
        return redis.Redis.from_url(target.url, **options)
    options = {**defaults, **target.options}
    if target.tls:
        options["ssl"] = True
    if target.mode == "cluster":
        options.pop("health_check_interval", None)
        nodes = [cluster_node(host, port) for host, port in target.hosts]
        return redis.cluster.RedisCluster(startup_nodes=nodes, **options)
    sentinel_options = {**{k: v for k, v in defaults.items() if k in _SOCKET}, **target.sentinel_options}
    if target.tls:
        sentinel_options["ssl"] = True
    sentinel = sentinel_class(list(target.hosts), sentinel_kwargs=sentinel_options, **options)
    return sentinel.master_for(target.master, db=target.db)
