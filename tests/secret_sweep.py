"""One secrets sweep for the live suites: collect every secret the run made, scan every output.

Secrets are collected where they are born or cross the wire, not listed by hand:

- every opaque token the in-process mock issues (its ``entropy.token_urlsafe``, recorded);
- every authorization code the mock's control API approves (``watch_mock`` records them);
- whatever the helper sends or receives at the token endpoint, when it uses ``http_client()``:
  codes, PKCE verifiers, client secrets (form or Basic), access and refresh tokens (a JWT's
  payload and signature parts too);
- what the test adds: client secrets, store passwords (``add_url``), attempt ids and states.

Outputs are every log record at DEBUG (caplog), the request log (events) of every watched mock,
and whatever the test hands to ``scan``: reprs, exception messages, CLI output, web pages.
``check`` fails listing any secret found, and prints how many it looked for and where.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from mock_server import MockServer, entropy

SECRET_FIELDS = frozenset(
    {"code", "code_verifier", "client_secret", "refresh_token", "access_token", "id_token", "token"}
)
MIN_LENGTH = 8  # shorter values ("demo", "ok") would match ordinary text
# Across the session, for the summary at the end of the run (tests/conftest.py).
TOTALS = {"tests": 0, "secrets": 0, "outputs": 0}


class SecretSweep:
    """Secrets to look for and outputs to look in; ``check`` compares them."""

    def __init__(self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
        self.caplog = caplog
        self.secrets: set[str] = set()
        self.outputs: list[tuple[str, str]] = []
        self.mocks: list[MockServer] = []
        self.checked = False
        self.monkeypatch = monkeypatch
        real = entropy.token_urlsafe

        def recorded() -> str:
            value = real()
            self.secrets.add(value)
            return value

        monkeypatch.setattr(entropy, "token_urlsafe", recorded)

    def add(self, *values: str | None) -> None:
        """Secrets to look for (a JWT also by its payload and signature)."""
        for value in values:
            if value and len(value) >= MIN_LENGTH:
                self.secrets.add(value)
                parts = value.split(".")
                if len(parts) == 3:  # the header part is the same for every token: not secret
                    self.add(*parts[1:])

    def add_url(self, url: str) -> None:
        """A store or server URL's password."""
        self.add(urlsplit(url).password)

    def scan(self, name: str, *texts: object) -> None:
        """Outputs to look in (``str()`` of each; pass ``repr(x)`` for a repr)."""
        for text in texts:
            self.outputs.append((name, str(text)))

    def watch_mock(self, mock: MockServer) -> None:
        """Record the codes ``mock.approve`` hands out; scan its request log at ``check``."""
        approve: Callable[..., dict[str, Any]] = mock.approve

        def recorded(*args: Any, **kwargs: Any) -> dict[str, Any]:
            answer = approve(*args, **kwargs)
            self.add(answer.get("code"))
            return answer

        self.monkeypatch.setattr(mock, "approve", recorded)  # undone after the test
        self.mocks.append(mock)

    def http_client(self, **options: Any) -> httpx.Client:
        """An httpx client (for ``Transport(http=...)``) that records the secrets it carries."""

        def on_request(request: httpx.Request) -> None:
            self._take_headers(request.headers)
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                self._take_fields(parse_qsl(request.content.decode()))

        def on_response(response: httpx.Response) -> None:
            response.read()
            if response.headers.get("content-type", "").startswith("application/json"):
                with_fields = response.json()
                if isinstance(with_fields, dict):
                    self._take_fields(with_fields.items())

        return httpx.Client(event_hooks={"request": [on_request], "response": [on_response]}, **options)

    def _take_headers(self, headers: httpx.Headers) -> None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            _, _, password = base64.b64decode(credentials).decode().partition(":")
            self.add(password)
        elif scheme.lower() == "bearer":
            self.add(credentials)

    def _take_fields(self, fields: Iterable[tuple[str, object]]) -> None:
        for name, value in fields:
            if name in SECRET_FIELDS and isinstance(value, str):
                self.add(value)

    def check(self) -> tuple[int, int]:
        """Fail on any secret in any output; returns (secrets looked for, outputs scanned)."""
        outputs = [*self.outputs, ("logs (DEBUG)", self.caplog.text)]
        outputs += [(f"events of {mock.url}", json.dumps(mock.events())) for mock in self.mocks]
        self.checked = True
        found = {(name, secret) for name, text in outputs for secret in self.secrets if secret in text}
        leaked = sorted(f"{name}: {secret[:6]}..." for name, secret in found)
        print(f"secrets sweep: looked for {len(self.secrets)} secrets in {len(outputs)} outputs")
        assert leaked == [], leaked
        TOTALS["tests"] += 1
        TOTALS["secrets"] += len(self.secrets)
        TOTALS["outputs"] += len(outputs)
        return len(self.secrets), len(outputs)
