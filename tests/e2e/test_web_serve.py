"""``oob-helper serve`` as an operator runs it: the printed URL answers, SIGTERM exits 143, a busy
port exits 2 with a message (Ctrl-C, exit 130: ``test_cli_live.py``)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from mock_server.runner import MockServer
from oob_helper.web.runner import bind

OOB_HELPER = Path(sys.executable).with_name("oob-helper")


def serve_env(mock: MockServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "OOB_HELPER_CLIENT_ID": "demo-public",
            "OOB_HELPER_AUTH_BASE": mock.url,
            "OOB_HELPER_API_BASE": mock.api_base,
            "OOB_HELPER_STORE": "sqlite:///" + str(tmp_path / "tokens.db"),
            "OOB_HELPER_SECRET_KEY": "serve-test-key-" + "k" * 32,
        }
    )
    return env


def test_serve_answers_on_its_printed_url_and_exits_143_on_sigterm(
    mock_aweber: MockServer, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [str(OOB_HELPER), "serve", "--port", "0", "--allowed-host", "shop.example.com"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=serve_env(mock_aweber, tmp_path),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", first)
        assert match, first + proc.stdout.read()
        url = match.group(1)
        proc.stdout.readline()  # the host names line
        page = httpx.get(url + "/", headers={"Host": "shop.example.com"})
        assert page.status_code == 200
        assert "Connect to AWeber" in page.text
        refused = httpx.get(url + "/", headers={"Host": "other.example.com"})
        assert refused.status_code == 400
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 143  # terminated, as the README's exit code table says
        assert "Traceback" not in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_on_a_busy_port_exits_2_and_says_why(mock_aweber: MockServer, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(OOB_HELPER), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=serve_env(mock_aweber, tmp_path),
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_socket_accepts_connections_before_the_server_starts() -> None:
    """`serve` prints its URL before uvicorn starts: a client acting on it must queue, not be
    refused (a fresh-clone CI run once lost this race)."""
    sock = bind("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass
    finally:
        sock.close()
