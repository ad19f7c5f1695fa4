"""Which install a request belongs to: the normalised Host header, checked against an allow-list.

Pure functions over strings; the app calls them with the request's Host header and scheme.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Names a standalone helper answers to when the operator configured nothing.
LOOPBACK_HOSTS: tuple[str, ...] = ("localhost", "*.localhost", "127.0.0.1", "[::1]")


class BadHost(ValueError):
    """The Host header is missing, malformed or not allowed (the message is safe to show)."""


@dataclass(frozen=True)
class HostName:
    """A normalised host: ASCII lowercase name (IPv6 in brackets) and a non-default port."""

    name: str
    port: int | None

    @property
    def key(self) -> str:
        """The install key: the name, plus the port when it is not the scheme's default."""
        return self.name if self.port is None else f"{self.name}:{self.port}"


def normalise_host(header: str | None, scheme: str = "http") -> HostName:
    """Parse a Host header: lowercase, IDNA-encode, drop a trailing dot and the default port."""
    if not header:
        raise BadHost("the request has no Host header")
    raw = header.strip()
    if len(raw) > 300 or any(ord(c) < 33 or c in "/\\@?#%" for c in raw):
        raise BadHost("the Host header contains characters a host name cannot have")
    port_text: str | None = None
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise BadHost("the Host header has an unclosed IPv6 bracket")
        inner, rest = raw[1:end], raw[end + 1 :]
        try:
            address = ipaddress.IPv6Address(inner)
        except ValueError:
            raise BadHost("the Host header holds an invalid IPv6 address") from None
        name = f"[{address.compressed}]"
        if rest:
            if not rest.startswith(":"):
                raise BadHost("the Host header has text after the IPv6 address")
            port_text = rest[1:]
    else:
        name, sep, port_text_or_empty = raw.rpartition(":")
        if not sep:
            name, port_text_or_empty = raw, ""
        port_text = port_text_or_empty if sep else None
        name = _ascii_name(name)
    port = _parse_port(port_text)
    if port is not None and _DEFAULT_PORTS.get(scheme) == port:
        port = None
    return HostName(name, port)


def _parse_port(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 5 or not 0 < int(text) < 65536:
        raise BadHost("the Host header has an invalid port")
    return int(text)


def _ascii_name(name: str) -> str:
    name = name.rstrip(".").lower()
    if not name:
        raise BadHost("the Host header has an empty host name")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadHost("the Host header is not a valid internationalised domain name") from None
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in ascii_name.split(".")):
        raise BadHost("the Host header is not a valid host name") from None
    return ascii_name


class HostAllowList:
    """Operator-configured host names: exact names, ``*.suffix`` patterns, optional ``:port``.

    An entry without a port matches the name on any port; ``*.example.com`` matches every
    sub-domain of example.com but not example.com itself.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self._exact: set[tuple[str, int | None]] = set()
        self._suffixes: list[tuple[str, int | None]] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            wildcard = entry.startswith("*.")
            host = normalise_host(entry[2:] if wildcard else entry, scheme="")
            if wildcard:
                self._suffixes.append(("." + host.name, host.port))
            else:
                self._exact.add((host.name, host.port))

    def allows(self, host: HostName) -> bool:
        """True when the operator listed this host (by name, pattern, and port if given)."""
        for port in (None, host.port):
            if (host.name, port) in self._exact:
                return True
        return any(
            host.name.endswith(suffix) and (port is None or port == host.port)
            for suffix, port in self._suffixes
        )


def is_loopback(client_host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (the standalone default's clients)."""
    if not client_host:
        return False
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
