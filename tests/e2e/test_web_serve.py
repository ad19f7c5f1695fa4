"""``oob-helper serve`` as an operator runs it: the printed URL answers, SIGTERM exits 143, a busy
port exits 2 with a message (Ctrl-C, exit 130: ``test_cli_live.py``)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mock_server.runner import MockServer

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


def full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full, so the first write to it blocks until the reader reads."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    for chunk in (b"x" * 4096, b"x"):
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(write_end, chunk)
    os.set_blocking(write_end, True)
    return read_end, write_end


def blocked_writing_stdout(pid: int) -> bool:
    """Whether the process's main thread sits in write(1, ...) (Linux /proc/PID/syscall)."""
    fields = Path(f"/proc/{pid}/syscall").read_text().split()
    return fields[:2] == [str(SYS_WRITE), "0x1"]


SYS_WRITE = 1  # x86-64 and the other 64-bit Linux ABIs this runs on


def test_serve_accepts_connections_before_it_prints_its_url(mock_aweber: MockServer, tmp_path: Path) -> None:
    """A client acting on the printed URL must queue, not be refused (a fresh-clone CI run once
    lost this race). ``serve``'s stdout is a full pipe, so it stops inside the print of its URL;
    at that moment the port must take a connection."""
    with socket.socket() as probe:  # a free port to name in advance: serve cannot say it yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    read_end, write_end = full_pipe()
    proc = subprocess.Popen(
        [str(OOB_HELPER), "serve", "--port", str(port)],
        stdout=write_end,
        stderr=subprocess.DEVNULL,
        env=serve_env(mock_aweber, tmp_path),
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as out:
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and not blocked_writing_stdout(proc.pid):
                assert time.monotonic() < deadline, "serve never wrote to stdout"
                time.sleep(0.01)
            assert proc.poll() is None, "serve exited before printing its URL"
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass  # accepted while the URL is still being printed
            printed = out.readline().decode()  # the filler, then the URL line
            assert f"oob-helper web helper: http://127.0.0.1:{port}/" in printed
            assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200  # and it serves
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 143  # terminated
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
