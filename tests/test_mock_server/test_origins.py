"""The Host and Origin rules of ``mock_server.origins``, as plain functions (the HTTP behaviour
is in test_control_plane_security.py)."""

from __future__ import annotations

import pytest

from mock_server.origins import HostCheck, check_allowed_host, cross_site, split_host


@pytest.mark.parametrize(
    ("host", "server", "scheme", "served"),
    [
        (b"10.0.0.5:8081", ("10.0.0.5", 8081), "http", True),  # the address it came in on
        (b"10.0.0.6:8081", ("10.0.0.5", 8081), "http", False),
        (b"[fd00::5]:8081", ("fd00::5", 8081), "http", True),
        (b"[FD00::5]:8081", ("fd00::5", 8081), "http", True),
        (b"[fd00::5:8081", ("fd00::5", 8081), "http", False),  # unclosed bracket
        (b"127.0.0.1", ("127.0.0.1", 80), "http", True),  # the default port may be left out
        (b"127.0.0.1", ("127.0.0.1", 443), "https", True),
        (b"127.0.0.1", ("127.0.0.1", 8081), "http", False),
        (b"127.0.0.1:0x1f91", ("127.0.0.1", 8081), "http", False),
        (b"", ("127.0.0.1", 8081), "http", False),
        (None, ("127.0.0.1", 8081), "http", False),
        (b"localhost:8081", None, "http", False),  # no server address: only configured names
    ],
)
def test_served_hosts(host: bytes | None, server: tuple[str, int] | None, scheme: str, served: bool) -> None:
    assert HostCheck().allows(host, server, scheme) is served


def test_the_decision_cache_stays_bounded() -> None:
    check = HostCheck()
    for n in range(5000):
        assert not check.allows(f"evil{n}.example:8081".encode(), ("127.0.0.1", 8081))
    assert len(check._known) <= 1024
    assert check.allows(b"localhost:8081", ("127.0.0.1", 8081))


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("a b", "is not a host name"),
        ("ci:http", "invalid port"),
        ("ci:70000", "invalid port"),
        ("*.", "is not a host name"),
    ],
)
def test_bad_allowed_hosts_are_named(entry: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_allowed_host(entry)


def test_split_host() -> None:
    assert split_host("Mock.Example:8081") == ("mock.example", 8081)
    assert split_host("[::1]") == ("[::1]", None)
    with pytest.raises(ValueError, match="is not a host name"):
        split_host("::1")  # IPv6 needs its brackets


@pytest.mark.parametrize(
    ("origin", "fetch_site", "refused"),
    [
        (None, None, False),  # curl, httpx, the MockServer handle
        ("http://127.0.0.1:8081", "same-origin", False),
        ("HTTP://127.0.0.1:8081", None, False),
        ("https://127.0.0.1:8081", None, False),  # behind a TLS-terminating proxy
        (None, "none", False),  # typed into the address bar
        ("http://127.0.0.1:8082", None, True),
        ("http://127.0.0.1:8081.evil.example", None, True),
        ("null", None, True),
        (None, "cross-site", True),
        (None, "same-site", True),
        ("http://127.0.0.1:8081", "cross-site", True),
    ],
)
def test_cross_site(origin: str | None, fetch_site: str | None, refused: bool) -> None:
    assert (cross_site(origin, fetch_site, "127.0.0.1:8081") is not None) is refused
