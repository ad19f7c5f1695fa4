"""The foundation's promises: the mock starts on port 0 and stops; packages import cleanly."""

from __future__ import annotations

import ast
import logging
import socket
from pathlib import Path

import httpx
import pytest
from secret_sweep import SecretSweep

from mock_server import MockServer


def test_mock_server_starts_on_a_free_port_and_stops() -> None:
    with MockServer() as mock:
        assert mock.url.startswith("http://127.0.0.1:")
        port = int(mock.url.rsplit(":", 1)[1])
        assert port > 0
        response = httpx.get(f"{mock.url}/openapi.json")
        assert response.status_code == 200
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


BROAD = {"Exception", "BaseException"}
OOB = "urn:ietf:wg:oauth:2.0:oob"


def test_no_test_expects_a_bare_exception() -> None:
    """The error class decides the CLI's exit code, so a test must name it.

    ruff's B017 lets ``pytest.raises(Exception, match=...)`` through; this check does not.
    """
    broad: list[str] = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "raises"
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in BROAD
            ):
                broad.append(f"{path.name}:{node.lineno}")
    assert broad == []


def test_the_secrets_sweep_finds_what_it_collected(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    sweep = SecretSweep(caplog, monkeypatch)
    with MockServer() as mock, sweep.http_client() as http:
        sweep.watch_mock(mock)
        client = {"client_id": "demo-confidential", "redirect_uri": OOB}
        code = mock.approve({"response_type": "code", "scope": "account.read", **client})["code"]
        form = {"grant_type": "authorization_code", "code": code, **client}
        pair = http.post(mock.token_url, data=form, auth=("demo-confidential", "demo-secret")).json()
        assert {code, pair["access_token"], pair["refresh_token"], "demo-secret"} <= sweep.secrets
        sweep.check()  # nothing leaked yet
        logging.getLogger("oob_helper").debug("token %s", pair["access_token"])
        sweep.scan("a page", f"<p>{pair['refresh_token']}</p>")
        httpx.get(f"{mock.url}/1.0/accounts", params={"ws.op": code})  # a secret in a logged query
        with pytest.raises(AssertionError) as info:
            sweep.check()
    found = str(info.value)
    assert "logs (DEBUG)" in found
    assert "a page" in found
    assert f"events of {mock.url}" in found
