"""Host-header normalisation and the allow-list that maps requests to installs."""

from __future__ import annotations

import pytest

from oob_helper.web.hosts import BadHost, HostAllowList, HostName, is_loopback, normalise_host


@pytest.mark.parametrize(
    ("header", "scheme", "key"),
    [
        ("Example.COM", "http", "example.com"),
        ("example.com.", "http", "example.com"),
        ("example.com:80", "http", "example.com"),
        ("example.com:443", "https", "example.com"),
        ("example.com:443", "http", "example.com:443"),
        ("example.com:8080", "https", "example.com:8080"),
        ("BÜCHER.example", "http", "xn--bcher-kva.example"),
        ("bücher.example:8000", "http", "xn--bcher-kva.example:8000"),
        ("127.0.0.1:8000", "http", "127.0.0.1:8000"),
        ("[::1]:8000", "http", "[::1]:8000"),
        ("[0:0:0:0:0:0:0:1]", "http", "[::1]"),
    ],
)
def test_hosts_are_normalised_to_one_install_key(header: str, scheme: str, key: str) -> None:
    assert normalise_host(header, scheme).key == key


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "evil.com/path",
        "user@evil.com",
        "a b.com",
        "evil.com:notaport",
        "evil.com:99999",
        "evil.com:0",
        "[::1",
        "[nonsense]",
        "[::1]x",
        "-bad-.com",
        "a..b.com",
        "x" * 64 + ".com",
        "a.com\r\nX-Injected: 1",
        "under_score.com",
        "a.com:80:80",
    ],
)
def test_malformed_hosts_are_refused(header: str | None) -> None:
    with pytest.raises(BadHost):
        normalise_host(header)


def test_allow_list_matches_names_patterns_and_ports() -> None:
    allowed = HostAllowList(["shop.example.com", "*.sites.example.org", "fixed.example.net:8443", " "])
    assert allowed.allows(HostName("shop.example.com", None))
    assert allowed.allows(HostName("shop.example.com", 8000))  # no port in the entry: any port
    assert allowed.allows(HostName("a.sites.example.org", None))
    assert allowed.allows(HostName("a.b.sites.example.org", 81))
    assert not allowed.allows(HostName("sites.example.org", None))  # the pattern needs a sub-domain
    assert not allowed.allows(HostName("evilsites.example.org", None))
    assert not allowed.allows(HostName("shop.example.com.evil.net", None))
    assert allowed.allows(HostName("fixed.example.net", 8443))
    assert not allowed.allows(HostName("fixed.example.net", 8444))
    assert not allowed.allows(HostName("other.example.com", None))


def test_allow_list_entries_are_normalised_like_requests() -> None:
    allowed = HostAllowList(["Bücher.Example."])
    assert allowed.allows(normalise_host("xn--bcher-kva.example:8000"))


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("203.0.113.9", False),
        ("::ffff:10.0.0.1", False),
        ("localhost", False),
        (None, False),
        ("", False),
    ],
)
def test_only_loopback_clients_count_as_local(client: str | None, expected: bool) -> None:
    assert is_loopback(client) is expected
