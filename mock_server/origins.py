"""Who may talk to the mock: the Host names it serves and same-origin browsers; pure.

A web page the QA person has open must not drive the mock. Two browser tricks are closed here:

- DNS rebinding: a page on ``evil.example`` points its name at 127.0.0.1 and reads the mock's
  answers as same-origin. The browser still sends ``Host: evil.example:PORT``, so every request
  whose Host is not one the mock serves is refused (``HostCheck``; the edge answers 421).
  Served: ``localhost``, ``127.0.0.1`` and ``[::1]`` and the address the connection came in on,
  each with the port it came in on (bare when that is 80), plus the configured
  ``allowed_hosts`` entries: ``name``, ``name:port``, ``*.suffix`` (sub-domains only), or ``*``
  (every host: the check is off).
- Cross-site requests (a form or a ``no-cors`` fetch from another origin, another loopback
  port included): a browser sends ``Origin`` and ``Sec-Fetch-Site``; ``cross_site`` names why
  such a request is refused on the control plane.
"""

from __future__ import annotations

from collections.abc import Iterable

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CACHE_LIMIT = 1024


def split_host(text: str) -> tuple[str, int | None]:
    """``name[:port]`` (IPv6 in brackets) as a lower-case name and a port; ValueError if malformed."""
    text = text.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        name, rest = text[: end + 1], text[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise ValueError(f"{text[:100]!r} is not a host name: unclosed or misplaced IPv6 bracket")
        port_text: str | None = rest[1:] if rest else None
    else:
        name, sep, after = text.rpartition(":")
        name, port_text = (name, after) if sep else (text, None)
    if not name or any(c in name for c in " /\\@?#,") or (":" in name and not name.startswith("[")):
        raise ValueError(f"{text[:100]!r} is not a host name")
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text[:100]!r} has an invalid port")
    return name, int(port_text)


def check_allowed_host(entry: str) -> str:
    """An ``allowed_hosts`` entry, checked: ``*``, ``name``, ``name:port`` or ``*.suffix[:port]``."""
    if entry == "*":
        return entry
    split_host(entry[2:] if entry.startswith("*.") else entry)
    return entry


class HostCheck:
    """Whether a Host header names the mock, for a connection that came in on ``server``."""

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        entries = [check_allowed_host(e.strip()) for e in allowed_hosts if e.strip()]
        self.everything = "*" in entries
        self._extra: list[tuple[str, int | None]] = []
        for entry in entries:
            if entry == "*":
                continue
            wildcard = entry.startswith("*.")
            name, port = split_host(entry[2:] if wildcard else entry)
            self._extra.append(("*." + name if wildcard else name, port))
        # Decisions by (Host, server address, scheme): a request costs one dict look-up.
        self._known: dict[tuple[bytes, object, str], bool] = {}

    def allows(self, host: bytes | None, server: tuple[str, int | None] | None, scheme: str = "http") -> bool:
        """True when ``host`` (the raw Host header, None when absent) is one the mock serves."""
        if self.everything:
            return True
        if host is None:
            return False
        key = (host, server, scheme)
        known = self._known.get(key)
        if known is None:
            known = self._decide(host, server, scheme)
            if len(self._known) >= _CACHE_LIMIT:  # foreign names must not grow it without bound
                self._known.clear()
            self._known[key] = known
        return known

    def _decide(self, host: bytes, server: tuple[str, int | None] | None, scheme: str) -> bool:
        try:
            name, port = split_host(host.decode("latin-1"))
        except ValueError:
            return False
        if port is None:
            port = _DEFAULT_PORTS.get(scheme)
        if server is not None and server[1] == port:
            address = server[0].lower()
            own = f"[{address}]" if ":" in address else address
            if name in LOOPBACK_NAMES or name == own:
                return True
        for allowed, allowed_port in self._extra:
            if allowed_port is not None and allowed_port != port:
                continue
            if name == allowed or (allowed.startswith("*.") and name.endswith(allowed[1:])):
                return True
        return False


def cross_site(origin: str | None, fetch_site: str | None, host: str | None) -> str | None:
    """Why a browser request is cross-origin (refuse it), or None when it is the mock's own.

    ``Sec-Fetch-Site`` ``same-site`` counts as foreign too: a page on another port of the same
    machine is same-site but another origin. Scripts and curl send neither header.
    """
    if fetch_site is not None and fetch_site.strip().lower() in ("cross-site", "same-site"):
        return f"a {fetch_site.strip().lower()} browser request (Sec-Fetch-Site)"
    if origin is None:
        return None
    origin = origin.strip().lower()
    if host is not None and origin in (f"http://{host.lower()}", f"https://{host.lower()}"):
        return None
    return f"a browser request from another origin ({origin[:100]})"
