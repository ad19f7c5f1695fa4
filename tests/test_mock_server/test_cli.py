"""``mock-aweber serve`` as a real subprocess: printed URLs, a working server, clean stops."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_server.cli import _is_loopback, banner, build_parser, main
from mock_server.config import MockConfig

MOCK_AWEBER = Path(sys.executable).parent / "mock-aweber"
START_TIMEOUT = 30.0


class Served:
    """A running ``mock-aweber serve`` and what it printed."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.printed: list[str] = []
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """Read printed lines until one matches (the server is listening once it printed)."""
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"mock-aweber printed nothing matching {pattern!r}: {self.printed}")
            if line is None:
                _, err = self.proc.communicate(timeout=10)
                pytest.fail(f"mock-aweber exited ({self.proc.returncode}) before printing {pattern!r}: {err}")
            self.printed.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def base_url(self) -> str:
        return self.wait_for(r"base URL:\s+(http://\S+)").group(1)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def serve() -> Iterator[type[Served]]:
    started: list[Served] = []

    class Tracked(Served):
        def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
            super().__init__(args, env)
            started.append(self)

    yield Tracked
    for served in started:
        served.kill()


def test_serve_on_port_zero_prints_urls_serves_and_stops_on_sigterm(serve: type[Served]) -> None:
    served = serve([str(MOCK_AWEBER), "serve", "--port", "0"])
    base = served.base_url()
    port = int(base.rsplit(":", 1)[1])
    assert port > 0
    assert base == f"http://127.0.0.1:{port}"
    served.wait_for("Press Ctrl-C to stop")
    text = "".join(served.printed)
    for expected in (
        f"{base}/oauth2/authorize",
        f"{base}/oauth2/token",
        f"{base}/oauth2/revoke",
        f"{base}/1.0",
        f"{base}/_mock/",
        "demo / password demo",
        "demo-public",
        "demo-confidential / secret demo-secret",
    ):
        assert expected in text
    assert httpx.get(f"{base}/_mock/clock").json()["frozen"] is False
    assert httpx.get(f"{base}/openapi.json", params={"code": "sekrit-code-1"}).status_code == 200
    code, err = served.stop(signal.SIGTERM)
    assert code == 143, err  # 128 + SIGTERM, as the README's exit code table says
    assert "mock-aweber stopped." in err
    # One log line per request, with the secret redacted, and no traceback on the way out.
    assert "GET /openapi.json?code=[redacted] 200" in err
    assert "sekrit-code-1" not in err
    assert "Traceback" not in err


def test_batched_request_lines_each_keep_their_prefix_and_order(serve: type[Served]) -> None:
    # The lines are written off the request path, many per log record: on stderr each still
    # reads as its own line with time, level and logger, in the order the requests came.
    served = serve([str(MOCK_AWEBER), "serve", "--port", "0"])
    base = served.base_url()
    served.wait_for("Press Ctrl-C to stop")
    with httpx.Client() as http:
        for n in range(30):
            assert http.get(f"{base}/openapi.json", params={"n": str(n), "code": "sekrit"}).status_code == 200
    code, err = served.stop(signal.SIGTERM)  # the lines still queued are written on the way out
    assert code == 143, err
    lines = [line for line in err.splitlines() if "mock_server.requests" in line]
    assert len(lines) == 30
    prefix = re.compile(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO mock_server\.requests: "
        r"GET /openapi\.json\?n=(\d+)&code=\[redacted\] 200"
    )
    numbers = [int(m.group(1)) for line in lines if (m := prefix.match(line))]
    assert numbers == list(range(30)), lines[:3]
    assert "sekrit" not in err


def test_python_dash_m_serves_and_stops_on_ctrl_c(serve: type[Served]) -> None:
    served = serve(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--profile", "constantcontact"]
    )
    base = served.base_url()
    served.wait_for("Press Ctrl-C to stop")
    assert f"{base}/oauth2/default/v1/token" in "".join(served.printed)
    assert httpx.get(f"{base}/_mock/state").json()["profile"] == "constantcontact"
    code, err = served.stop(signal.SIGINT)
    assert code == 130, err  # interrupted (Ctrl-C)
    assert "mock-aweber stopped." in err
    assert "Traceback" not in err


def test_control_token_guards_the_control_plane(serve: type[Served]) -> None:
    served = serve([str(MOCK_AWEBER), "serve", "--port", "0", "--control-token", "cli-token-1"])
    base = served.base_url()
    text = "".join(served.printed)
    assert "cli-token-1" not in text  # the operator chose it; never echo it to logs
    assert httpx.get(f"{base}/_mock/clock").status_code == 401
    ok = httpx.get(f"{base}/_mock/clock", headers={"Authorization": "Bearer cli-token-1"})
    assert ok.status_code == 200
    assert served.stop()[0] == 143


def test_control_token_from_the_environment(serve: type[Served]) -> None:
    served = serve([str(MOCK_AWEBER), "serve", "--port", "0"], env={"MOCK_AWEBER_CONTROL_TOKEN": "env-tok"})
    base = served.base_url()
    assert httpx.get(f"{base}/_mock/clock").status_code == 401
    assert httpx.get(f"{base}/_mock/clock", headers={"Authorization": "Bearer env-tok"}).status_code == 200
    assert served.stop()[0] == 143


def test_no_control_removes_the_prefix(serve: type[Served]) -> None:
    served = serve([str(MOCK_AWEBER), "serve", "--port", "0", "--no-control", "--access-token-ttl", "60"])
    base = served.base_url()
    assert "disabled (--no-control)" in served.wait_for("dashboard:").string
    assert httpx.get(f"{base}/_mock/clock").status_code == 404
    assert httpx.get(f"{base}/openapi.json").status_code == 200
    assert served.stop()[0] == 143


def test_config_file_is_loaded(serve: type[Served], tmp_path: Path) -> None:
    config = tmp_path / "mock.json"
    config.write_text(
        '{"clients": [{"client_id": "cfg-app", "client_secret": "cfg-secret",'
        ' "redirect_uris": ["urn:ietf:wg:oauth:2.0:oob"]}],'
        ' "users": [{"username": "alice", "password": "wonder"}]}'
    )
    served = serve([str(MOCK_AWEBER), "serve", "--port", "0", "--config", str(config)])
    base = served.base_url()
    served.wait_for("Press Ctrl-C to stop")
    text = "".join(served.printed)
    assert "cfg-app" in text
    assert "alice" in text
    assert "cfg-secret" not in text
    assert "wonder" not in text
    state = httpx.get(f"{base}/_mock/state").json()
    assert [c["client_id"] for c in state["clients"]] == ["cfg-app"]
    assert [u["username"] for u in state["users"]] == ["alice"]
    assert served.stop()[0] == 143


def test_allowed_host_serves_that_name_and_only_it(serve: type[Served]) -> None:
    served = serve([str(MOCK_AWEBER), "serve", "--port", "0", "--allowed-host", "aweber-mock"])
    base = served.base_url()
    assert "aweber-mock" in served.wait_for("also serves:").string
    assert httpx.get(f"{base}/_mock/clock", headers={"Host": "aweber-mock:8081"}).status_code == 200
    refused = httpx.get(f"{base}/_mock/clock", headers={"Host": "rebound.example:8081"})
    assert refused.status_code == 421
    assert "--allowed-host" in refused.json()["error_description"]
    assert served.stop()[0] == 143


def test_a_bad_allowed_host_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--allowed-host", "a b"]) == 2
    err = capsys.readouterr().err
    assert "--allowed-host: 'a b' is not a host name" in err


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ('{"allowed_hosts": "ci"}', ".json", "allowed_hosts must be a list"),
        ('{"allowed_hosts": ["ci:port"]}', ".json", "allowed_hosts: 'ci:port' has an invalid port"),
        ("{not json", ".json", "not valid JSON"),
        ('{"profile": "mailchimp"}', ".json", "profile"),
        ('{"colour": 1}', ".json", "colour"),
        ("profile = ", ".toml", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, suffix: str, message: str
) -> None:
    path = tmp_path / f"mock{suffix}"
    path.write_text(content)
    assert main(["serve", "--port", "0", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mock-aweber: error: ")
    assert message in err
    assert "Traceback" not in err


def test_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml" in capsys.readouterr().err


def test_busy_port_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve", "--port", "http"],
        ["serve", "--port", "70000"],
        ["serve", "--profile", "mailchimp"],
        ["serve", "--access-token-ttl", "0"],
        ["serve", "--access-token-ttl", "soon"],
        ["serve", "--control-token", "t", "--no-control"],
        ["launch"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: mock-aweber" in capsys.readouterr().err


def test_help_names_every_flag_of_the_interface() -> None:
    serve_help = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for flag in (
        "--host",
        "--port",
        "--profile",
        "--config",
        "--access-token-ttl",
        "--allowed-host",
        "--control-token",
        "--no-control",
    ):
        assert flag in serve_help


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
    ],
)
def test_which_hosts_count_as_loopback(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


def test_banner_prints_a_generated_token_but_never_a_chosen_one() -> None:
    config = MockConfig()
    generated = banner("http://0.0.0.0:8081", config, control_token="gen-123", control=True, generated=True)
    assert "gen-123" in generated
    chosen = banner("http://127.0.0.1:8081", config, control_token="mine-456", control=True, generated=False)
    assert "mine-456" not in chosen
    assert "required" in chosen


def test_serve_tunes_the_collector_for_a_long_lived_heap() -> None:
    # In a child process: the collector's settings are process-wide and the tests' own must stay.
    code = (
        "import gc\n"
        "from mock_server.cli import GC_THRESHOLDS, tune_gc\n"
        "before = gc.get_threshold()\n"
        "tune_gc()\n"
        "print(before, gc.get_threshold() == GC_THRESHOLDS, gc.get_freeze_count() > 1000)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["(700,", "10,", "10)", "True", "True"]
