"""``oob-helper serve`` trusts ``X-Forwarded-*`` only from the proxies it is told to, whatever
FORWARDED_ALLOW_IPS says (issue 9, finding 6).

A remote client needs an address that is not loopback, so the test makes its own network
namespace joined to this one by a veth pair, with addresses from the benchmarking range
198.18.0.0/15 that exist only inside this run's namespaces. It needs root, as CI has.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_web_serve import serve_env

from mock_server.runner import MockServer

OOB_HELPER = Path(sys.executable).with_name("oob-helper")


@dataclass
class RemoteHost:
    """A network namespace: ``run`` executes a command there, from ``address``."""

    namespace: str
    address: str
    server_address: str

    def get(self, url: str, headers: dict[str, str]) -> int:
        code = (
            "import httpx, json, sys\n"
            "r = httpx.get(sys.argv[1], headers=json.loads(sys.argv[2]), timeout=10)\n"
            "print(r.status_code)\n"
        )
        out = subprocess.run(
            ["ip", "netns", "exec", self.namespace, sys.executable, "-c", code, url, json.dumps(headers)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return int(out.stdout.strip())


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def remote() -> Iterator[RemoteHost]:
    tag = secrets.token_hex(3)
    namespace, host_if, peer_if = f"oob-{tag}", f"oobh{tag}", f"oobn{tag}"
    third = int(tag[:2], 16)
    fourth = (int(tag[2:4], 16) % 60) * 4
    server, client = f"198.18.{third}.{fourth + 1}", f"198.18.{third}.{fourth + 2}"
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", namespace)
        _ip("addr", "add", f"{server}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", namespace, "ip", "addr", "add", f"{client}/30", "dev", peer_if)
        _ip("netns", "exec", namespace, "ip", "link", "set", peer_if, "up")
        yield RemoteHost(namespace, client, server)
    finally:
        subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True, timeout=30)


def _serve(mock: MockServer, tmp_path: Path, host: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = serve_env(mock, tmp_path)
    env["FORWARDED_ALLOW_IPS"] = "*"  # as container images often set it
    proc = subprocess.Popen(
        [str(OOB_HELPER), "serve", "--host", host, "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"(http://[0-9.]+:\d+)/", first)
    assert match, first
    proc.stdout.readline()  # the host names line
    return proc, match.group(1)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_remote_client_claiming_loopback_is_refused_despite_forwarded_allow_ips_star(
    mock_aweber: MockServer, tmp_path: Path, remote: RemoteHost
) -> None:
    proc, url = _serve(mock_aweber, tmp_path, remote.server_address)
    try:
        assert remote.get(url + "/", {}) == 403
        assert remote.get(url + "/", {"X-Forwarded-For": "127.0.0.1"}) == 403
    finally:
        _stop(proc)


def test_forwarded_allow_ips_names_the_proxy_to_trust(
    mock_aweber: MockServer, tmp_path: Path, remote: RemoteHost
) -> None:
    proc, url = _serve(mock_aweber, tmp_path, remote.server_address, "--forwarded-allow-ips", remote.address)
    try:
        # The named proxy forwards a loopback client: believed.
        assert remote.get(url + "/", {"X-Forwarded-For": "127.0.0.1"}) == 200
        # The same proxy forwarding a remote client: refused.
        assert remote.get(url + "/", {"X-Forwarded-For": "203.0.113.7"}) == 403
    finally:
        _stop(proc)


def test_a_malformed_forwarded_allow_ips_is_a_usage_error(mock_aweber: MockServer, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(OOB_HELPER), "serve", "--port", "0", "--forwarded-allow-ips", "10.0.0.1,not-an-ip"],
        check=False,
        capture_output=True,
        text=True,
        env=serve_env(mock_aweber, tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert "'not-an-ip' is not an IP address or network" in result.stderr
