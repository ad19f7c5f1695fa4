"""The real ``oob-helper`` console script, run as subprocesses against the live mock."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from secret_sweep import SecretSweep

from mock_server import MockServer
from oob_helper.config import load_settings
from oob_helper.helper import OAuthHelper
from oob_helper.stores import open_store

SCRIPT = str(Path(sys.executable).with_name("oob-helper"))
TIMEOUT = 120
# The running test's secrets sweep: every command's output is scanned (`token`'s stdout, which
# is the token on purpose, excepted).
SWEEP: list[SecretSweep] = []


@pytest.fixture(autouse=True)
def sweep(secret_sweep: SecretSweep, mock_aweber: MockServer) -> Iterator[SecretSweep]:
    secret_sweep.watch_mock(mock_aweber)
    secret_sweep.add("demo-secret")
    SWEEP.append(secret_sweep)
    yield secret_sweep
    SWEEP.remove(secret_sweep)


def scan_output(args: list[str] | tuple[str, ...], stdout: str, stderr: str) -> None:
    """Hand a command's output to the running test's sweep (when this module's tests run)."""
    if not SWEEP:  # cli() imported by another module, whose tests take no sweep
        return
    name = "oob-helper " + " ".join(args)
    SWEEP[-1].scan(f"{name} (stderr)", stderr)
    if not args or args[0] != "token":
        SWEEP[-1].scan(f"{name} (stdout)", stdout)


@pytest.fixture
def env(mock_aweber: MockServer, tmp_path: Path) -> dict[str, str]:
    """The environment a user would set to point the helper at the mock (and nothing else)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    return {
        **clean,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no user config file
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OOB_HELPER_AUTH_BASE": mock_aweber.url,
        "OOB_HELPER_API_BASE": mock_aweber.api_base,
        "OOB_HELPER_STORE": f"sqlite:///{tmp_path}/store.db",
        "OOB_HELPER_CLIENT_ID": "demo-public",
    }


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SCRIPT, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    scan_output(args, result.stdout, result.stderr)
    return result


def approve(mock: MockServer, authorize_url: str) -> str:
    params = dict(parse_qsl(urlsplit(authorize_url).query))
    code: str = mock.approve(params, "demo")["code"]
    return code


def connect_interactively(
    mock: MockServer, env: dict[str, str], install: str
) -> subprocess.CompletedProcess[str]:
    """``connect`` as a person uses it: read the URL it prints, approve, paste the code."""
    with subprocess.Popen(
        [SCRIPT, "connect", "--install", install],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.strip().startswith("http"):
                break
        else:
            proc.kill()
            pytest.fail(f"connect printed no authorize URL: {''.join(seen)}")
        code = approve(mock, line.strip())
        proc.stdin.write(f"\n  {code}  \n")  # a blank line and spaces, as pastes come
        proc.stdin.close()
        # Not communicate(): it reads the raw pipe and would miss what the line iterator buffered.
        err = proc.stderr.read()
        out = proc.stdout.read()
        proc.wait(timeout=TIMEOUT)
    scan_output(["connect", "--install", install], out, "".join(seen) + err)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


def api_accepts(mock: MockServer, token: str) -> bool:
    response = httpx.get(f"{mock.api_base}/accounts", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


def status_json(env: dict[str, str], install: str | None = None, *, code: int = 0) -> Any:
    args = ["status", "--json", *(["--install", install] if install else [])]
    result = cli(env, *args)
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout)


def test_connect_token_status_disconnect(mock_aweber: MockServer, env: dict[str, str]) -> None:
    connected = connect_interactively(mock_aweber, env, "shop.example")
    assert connected.returncode == 0, connected.stderr
    assert "Paste the authorization code" in connected.stderr
    assert connected.stdout.startswith("Connected install 'shop.example' to account ")
    assert connected.stdout.count("\n") == 1  # stdout carries only the result

    token = cli(env, "token", "--install", "shop.example")
    assert token.returncode == 0, token.stderr
    assert token.stderr == ""
    access_token = token.stdout.strip()
    assert token.stdout == access_token + "\n"
    assert api_accepts(mock_aweber, access_token)

    status = status_json(env, "shop.example")
    assert status["install"] == "shop.example"
    assert status["state"] == "connected"
    assert status["account_id"]
    assert status["account_name"]
    assert set(status["scopes"]) >= {"account.read"}
    assert status["expires_at"].endswith("Z")
    assert 0 < status["expires_in"] <= 7200
    assert status["encrypted"] is False  # no OOB_HELPER_ENCRYPTION_KEYS here
    assert access_token not in json.dumps(status)
    listed = status_json(env)
    assert [row["install"] for row in listed] == ["shop.example"]

    table = cli(env, "status")
    assert table.returncode == 0
    assert "shop.example" in table.stdout
    assert "connected" in table.stdout
    assert "Tokens at rest: NOT encrypted" in table.stdout
    assert access_token not in table.stdout

    again = connect_interactively(mock_aweber, env, "shop.example")
    assert again.returncode == 0, again.stderr
    assert "is connected: connecting replaces its tokens" in again.stderr
    access_token = cli(env, "token", "--install", "shop.example").stdout.strip()

    gone = cli(env, "disconnect", "--install", "shop.example")
    assert gone.returncode == 0, gone.stderr
    assert not api_accepts(mock_aweber, access_token)  # revoked at the provider
    assert status_json(env, "shop.example")["state"] == "not_connected"
    after = cli(env, "token", "--install", "shop.example")
    assert after.returncode == 3
    assert "oob-helper connect --install shop.example" in after.stderr


def test_connect_in_two_steps_with_code(mock_aweber: MockServer, env: dict[str, str]) -> None:
    started = cli(env, "connect", "--install", "blog.example", "--start", "--json")
    assert started.returncode == 0, started.stderr
    start = json.loads(started.stdout)
    assert start["install"] == "blog.example"
    assert "--attempt" in started.stderr
    code = approve(mock_aweber, start["authorize_url"])

    done = cli(env, "connect", "--install", "blog.example", "--attempt", start["attempt"], "--code", code)
    assert done.returncode == 0, done.stderr
    assert "Connected install 'blog.example'" in done.stdout
    assert status_json(env, "blog.example")["state"] == "connected"

    again = cli(env, "connect", "--install", "blog.example", "--attempt", start["attempt"], "--code", code)
    assert again.returncode == 2  # attempts are single use
    assert "start" in again.stderr


def test_a_code_that_begins_with_a_dash_is_taken_as_the_value_of_code(
    mock_aweber: MockServer, env: dict[str, str]
) -> None:
    """Codes are URL-safe base64 and may begin with "-": argparse read ``--code -abc`` as an
    option and the command failed with a usage error (a flaky CI failure: 1 code in 64)."""
    start = json.loads(cli(env, "connect", "--install", "d.example", "--start", "--json").stdout)
    dashed = cli(
        env, "connect", "--install", "d.example", "--attempt", start["attempt"], "--code", "-notacode"
    )
    assert "expected one argument" not in dashed.stderr
    assert dashed.returncode == 4, dashed.stderr  # it reached the provider, which refused the code
    fresh = json.loads(cli(env, "connect", "--install", "d.example", "--start", "--json").stdout)
    code = approve(mock_aweber, fresh["authorize_url"])
    done = cli(env, "connect", "--install", "d.example", "--attempt", fresh["attempt"], "--code", code)
    assert done.returncode == 0, done.stderr


def test_connect_with_code_from_stdin_and_bad_pastes(mock_aweber: MockServer, env: dict[str, str]) -> None:
    start = json.loads(cli(env, "connect", "--install", "a.example", "--start", "--json").stdout)
    empty = cli(env, "connect", "--install", "a.example", "--attempt", start["attempt"], stdin="\n\n")
    assert empty.returncode == 2
    assert "no authorization code was pasted" in empty.stderr
    code = approve(mock_aweber, start["authorize_url"])
    done = cli(
        env, "connect", "--install", "a.example", "--attempt", start["attempt"], "--code", "-", stdin=code
    )
    assert done.returncode == 0, done.stderr
    public_code = cli(env, "connect", "--install", "b.example", "--code", "abc")
    assert public_code.returncode == 2
    assert "--attempt" in public_code.stderr


def test_token_check_finds_a_token_the_provider_expired(mock_aweber: MockServer, env: dict[str, str]) -> None:
    assert connect_interactively(mock_aweber, env, "shop.example").returncode == 0
    first = cli(env, "token", "--install", "shop.example").stdout.strip()
    assert mock_aweber.expire_tokens() >= 1
    # By the helper's own clock the token is still fresh, so plain `token` hands it out...
    assert cli(env, "token", "--install", "shop.example").stdout.strip() == first
    assert not api_accepts(mock_aweber, first)
    # ...while --check tries it on the API, sees the 401 and refreshes once.
    checked = cli(env, "token", "--install", "shop.example", "--check")
    assert checked.returncode == 0, checked.stderr
    second = checked.stdout.strip()
    assert second != first
    assert api_accepts(mock_aweber, second)
    assert cli(env, "token", "--install", "shop.example").stdout.strip() == second


@pytest.fixture
def many_installs(mock_aweber: MockServer, env: dict[str, str]) -> list[str]:
    """200 installs connected through the library, in this process, on the CLI's store file."""
    settings = load_settings(overrides={}, environ=env, config_file=None)
    helper = OAuthHelper(settings, open_store(settings.store_url))
    names = [f"site{i:03d}.example" for i in range(200)]
    try:
        for name in names:
            start = helper.start_authorization(name)
            helper.complete_authorization(
                name, start.attempt.attempt_id, approve(mock_aweber, start.authorize_url)
            )
    finally:
        helper.close()
    return names


def _last_event_id(mock: MockServer) -> int:
    events = mock.events()
    return int(events[-1]["id"]) if events else 0


def test_refresh_all_over_200_installs(
    mock_aweber: MockServer, env: dict[str, str], many_installs: list[str]
) -> None:
    mark = _last_event_id(mock_aweber)
    result = cli(env, "refresh", "--all", "--concurrency", "8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "refreshed 200, skipped 0, reauthorization required 0, failed 0, backed off 0 (200 installs in "
    )
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    token_calls = [e for e in mock_aweber.events() if e["id"] > mark and e["path"] == "/oauth2/token"]
    assert len(token_calls) == 200

    rows = status_json(env)
    assert sorted(r["install"] for r in rows) == many_installs
    assert all(r["state"] == "connected" and r["last_refresh_at"] for r in rows)

    # Every token is fresh now: only those expiring within 10 minutes would be refreshed.
    fresh = cli(env, "refresh", "--all", "--within", "10m")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith("refreshed 0, skipped 200, reauthorization required 0, failed 0")

    # One install revoked, one store-wide summary: exit 3 names it.
    mock_aweber.revoke_tokens(access_token=cli(env, "token", "--install", "site007.example").stdout.strip())
    mixed = cli(env, "refresh", "--all", "--concurrency", "16")
    assert mixed.returncode == 3
    assert mixed.stdout.startswith("refreshed 199, skipped 0, reauthorization required 1, failed 0")
    assert "site007.example" in mixed.stderr


def test_exit_3_after_the_provider_revokes(mock_aweber: MockServer, env: dict[str, str]) -> None:
    assert connect_interactively(mock_aweber, env, "shop.example").returncode == 0
    mock_aweber.revoke_tokens()
    result = cli(env, "refresh", "--install", "shop.example")
    assert result.returncode == 3
    assert result.stdout.startswith("refreshed 0, skipped 0, reauthorization required 1, failed 0")
    assert "shop.example" in result.stderr
    status = status_json(env, "shop.example", code=3)  # a person must reconnect it
    assert status["state"] == "reauthorization_required"
    assert status["problem"] == "reauthorization_required"
    assert status["reason"]
    token = cli(env, "token", "--install", "shop.example")
    assert token.returncode == 3
    assert token.stdout == ""
    assert "oob-helper connect --install shop.example" in token.stderr
    # Forgetting a dead install still works (nothing left to revoke).
    assert cli(env, "disconnect", "--install", "shop.example").returncode == 0


def test_exit_4_when_the_token_endpoint_fails(mock_aweber: MockServer, env: dict[str, str]) -> None:
    assert connect_interactively(mock_aweber, env, "shop.example").returncode == 0
    before = cli(env, "token", "--install", "shop.example").stdout
    mock_aweber.add_fault("/oauth2/token", status=503, count=20)
    result = cli(env, "refresh", "--install", "shop.example")
    assert result.returncode == 4
    assert result.stdout.startswith("refreshed 0, skipped 0, reauthorization required 0, failed 1")
    assert "Traceback" not in result.stderr
    mock_aweber.clear_faults()
    assert cli(env, "token", "--install", "shop.example").stdout == before  # stored token untouched
    assert status_json(env, "shop.example")["state"] == "connected"


def test_refresh_all_reports_installs_held_by_the_back_off(
    mock_aweber: MockServer, env: dict[str, str]
) -> None:
    """Real time runs in the CLI: a base of one hour keeps the back-off's wait far from it."""
    env = {**env, "OOB_HELPER_REFRESH_BACKOFF_BASE": "1h", "OOB_HELPER_REFRESH_BACKOFF_MAX": "2h"}
    assert connect_interactively(mock_aweber, env, "shop.example").returncode == 0
    mock_aweber.add_fault("/oauth2/token", status=500, count=20)
    since = _last_event_id(mock_aweber)
    for _ in range(2):  # the first failure, and the retry the schedule lets through at once
        result = cli(env, "refresh", "--all")
        assert result.returncode == 4
        assert result.stdout.startswith(
            "refreshed 0, skipped 0, reauthorization required 0, failed 1, backed off 0"
        )
    held = cli(env, "refresh", "--all")
    assert held.returncode == 4
    assert held.stdout.startswith(
        "refreshed 0, skipped 0, reauthorization required 0, failed 0, backed off 1"
    )
    wait = re.search(r"next attempt is allowed in (\d+)s", held.stderr)
    assert wait is not None, held.stderr
    assert 1790 <= int(wait.group(1)) <= 3600
    assert "shop.example" in held.stderr
    token_posts = [e for e in mock_aweber.events(since) if e["path"] == "/oauth2/token"]
    assert len(token_posts) == 2  # the held run sent nothing
    mock_aweber.clear_faults()
    # A person names the install: the back-off does not hold it.
    forced = cli(env, "refresh", "--install", "shop.example")
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith(
        "refreshed 1, skipped 0, reauthorization required 0, failed 0, backed off 0"
    )
    assert cli(env, "refresh", "--all").stdout.startswith("refreshed 1,")  # and it is lifted


def test_exit_4_when_the_provider_is_unreachable(mock_aweber: MockServer, env: dict[str, str]) -> None:
    assert connect_interactively(mock_aweber, env, "shop.example").returncode == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    down = {**env, "OOB_HELPER_AUTH_BASE": f"http://127.0.0.1:{closed_port}"}
    result = cli(down, "refresh", "--install", "shop.example")
    assert result.returncode == 4
    assert "failed" in result.stderr
    disconnect = cli(down, "disconnect", "--install", "shop.example")
    assert disconnect.returncode == 4
    assert disconnect.stderr.startswith("oob-helper: error: ")
    assert disconnect.stderr.count("\n") == 1
    assert status_json(env, "shop.example")["state"] == "connected"  # kept: the revoke failed


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"OOB_HELPER_PROVIDER": "mailchimp"}, "unknown provider"),
        ({"OOB_HELPER_CLIENT_ID": ""}, "missing client id"),
        ({"OOB_HELPER_AUTH_BASE": "mock:8081"}, "OOB_HELPER_AUTH_BASE"),
        ({"OOB_HELPER_CLIENT_AUTH": "basic"}, "needs a client secret"),
        ({"OOB_HELPER_STORE": "mysql://x/y"}, "OOB_HELPER_STORE"),
    ],
)
def test_exit_2_for_bad_configuration(env: dict[str, str], change: dict[str, str], needle: str) -> None:
    # `disconnect` needs every setting (`status` needs only the store: test_cli_first_hour.py).
    result = cli({**env, **change}, "disconnect", "--install", "shop.example")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("oob-helper: error: ")
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1


def test_config_file_and_flags(mock_aweber: MockServer, env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "oob.toml"
    config.write_text(
        f'client_id = "demo-confidential"\nclient_secret = "demo-secret"\nstore = "sqlite:///{tmp_path}/conf.db"\n',
        encoding="utf-8",
    )
    from_file = {k: v for k, v in env.items() if k not in ("OOB_HELPER_CLIENT_ID", "OOB_HELPER_STORE")}
    from_file["OOB_HELPER_CONFIG"] = str(config)
    started = cli(from_file, "connect", "--install", "c.example", "--start", "--json")
    assert started.returncode == 0, started.stderr
    start = json.loads(started.stdout)
    assert "client_id=demo-confidential" in start["authorize_url"]
    assert "code_challenge" not in start["authorize_url"]  # AWeber: no PKCE for confidential clients
    code = approve(mock_aweber, start["authorize_url"])
    done = cli(from_file, "connect", "--install", "c.example", "--attempt", start["attempt"], "--code", code)
    assert done.returncode == 0, done.stderr
    assert "demo-secret" not in done.stdout + done.stderr
    # A flag beats the file: the other store has no such install.
    other = cli(from_file, "--store", f"sqlite:///{tmp_path}/other.db", "status", "--json")
    assert json.loads(other.stdout) == []
    assert [r["install"] for r in status_json(from_file)] == ["c.example"]


def test_migrate_store_moves_every_install(
    mock_aweber: MockServer, env: dict[str, str], tmp_path: Path
) -> None:
    for name in ("a.example", "b.example"):
        assert connect_interactively(mock_aweber, env, name).returncode == 0
    source = env["OOB_HELPER_STORE"]
    target = f"sqlite:///{tmp_path}/moved.db"
    result = cli(env, "migrate-store", "--from", source, "--to", target)
    assert result.returncode == 0, result.stderr
    # A deliberate move: the copies are stamped with the target's location, and it says so.
    assert result.stdout.strip().startswith(
        "migrated 2 installs, each stamped with the target's location sqlite:"
    )
    moved = {**env, "OOB_HELPER_STORE": target}

    def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        changing = ("expires_in", "store_location")  # moves with time; the stamp
        return [{k: v for k, v in row.items() if k not in changing} for row in rows]

    assert comparable(status_json(moved)) == comparable(status_json(env))
    assert all(f"{tmp_path}/moved.db@" in row["store_location"] for row in status_json(moved))
    token = cli(moved, "token", "--install", "a.example")
    assert token.returncode == 0
    assert api_accepts(mock_aweber, token.stdout.strip())
    same = cli(env, "migrate-store", "--from", source, "--to", source)
    assert same.returncode == 0, same.stderr
    assert same.stdout.strip() == "rewrote 2 installs in place"


def test_ctrl_c_while_waiting_for_the_paste_exits_130(env: dict[str, str]) -> None:
    with subprocess.Popen(
        [SCRIPT, "connect", "--install", "shop.example"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.strip().startswith("http"):  # the URL is out; it is waiting for the paste
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert "Traceback" not in rest
    assert "interrupted" in rest


def _serve_until_url(args: list[str], env: dict[str, str], marker: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [SCRIPT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            return proc, line.split(marker, 1)[1].strip()
    proc.wait(timeout=TIMEOUT)
    assert proc.stderr is not None
    pytest.fail(f"{args[0]} exited {proc.returncode} without printing its URL: {proc.stderr.read()}")


def _get(url: str) -> httpx.Response:
    # The runner prints its URL as it starts listening: retry refused connects (with backoff).
    with httpx.Client(transport=httpx.HTTPTransport(retries=8), follow_redirects=True) as http:
        return http.get(url)


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=TIMEOUT)
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert "Traceback" not in err
    return code


def test_serve_runs_the_web_helper_until_ctrl_c(env: dict[str, str]) -> None:
    proc, url = _serve_until_url(["serve", "--port", "0"], env, "web helper:")
    try:
        page = _get(url)
        assert page.status_code == 200
        assert "Not connected" in page.text
    finally:
        code = _stop(proc)
    assert code == 130  # interrupted, as the README's exit code table says


def test_demo_runs_the_mock_and_the_helper_until_ctrl_c(env: dict[str, str]) -> None:
    proc, url = _serve_until_url(["demo", "--helper-port", "0", "--mock-port", "0"], env, "Web helper:")
    try:
        assert _get(url).status_code == 200
    finally:
        code = _stop(proc)
    assert code == 130


def test_serve_with_bad_settings_is_exit_2(env: dict[str, str]) -> None:
    result = cli({**env, "OOB_HELPER_REDIRECT_URI": "not-a-url"}, "serve", "--port", "0")
    assert result.returncode == 2
    assert "OOB_HELPER_REDIRECT_URI" in result.stderr


def _sigterm_refresh_all(
    env: dict[str, str], concurrency: int, ready: Callable[[], bool]
) -> tuple[subprocess.Popen[str], str, str]:
    """Run ``refresh --all``, busy-poll (no sleep) until ``ready()``, then SIGTERM it as cron or
    systemd would; the process, its stdout and its stderr."""
    with subprocess.Popen(
        [SCRIPT, "refresh", "--all", "--concurrency", str(concurrency)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        for _ in range(100_000):
            if ready():
                break
        else:
            pytest.fail("refresh --all never reached the token endpoint")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    return proc, out, err


def test_sigterm_while_a_rotated_answer_is_on_its_way_waits_for_it(
    mock_aweber: MockServer, env: dict[str, str], many_installs: list[str]
) -> None:
    """One worker, whose first refresh the mock has done (the refresh token is rotated) but
    whose answer it holds for a while: SIGTERM lands while the main thread waits for the
    worker. The new pair must still be stored. (On CPython 3.11, waiting in Thread.join()
    there marked the worker stopped, the process exited with the answer in flight and the
    install needed a person.)"""
    mock_aweber.add_fault("/oauth2/token", delay_ms=1500, after_work=True)

    def answer_held() -> bool:  # the fault matched the first refresh: work done, answer held
        armed = mock_aweber.faults()  # read once: the fault is gone when its turn is used up
        return not armed or armed[0]["seen"] >= 1

    proc, out, err = _sigterm_refresh_all(env, 1, answer_held)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert out == ""  # stopped before the summary
    again = cli(env, "refresh", "--all")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("refreshed 200, skipped 0, reauthorization required 0, failed 0")


def test_sigterm_during_refresh_all_loses_no_refresh_token(
    mock_aweber: MockServer, env: dict[str, str], many_installs: list[str]
) -> None:
    mark = _last_event_id(mock_aweber)
    mock_aweber.add_fault("/oauth2/token", delay_ms=100, count=len(many_installs))

    def under_way() -> bool:
        calls = [e for e in mock_aweber.events() if e["id"] > mark and e["path"] == "/oauth2/token"]
        return len(calls) >= 8

    proc, out, err = _sigterm_refresh_all(env, 4, under_way)
    assert proc.returncode == 143
    assert "terminated" in err
    assert "Traceback" not in err
    assert out == ""  # stopped before the summary
    mock_aweber.clear_faults()
    # AWeber's policy kills a refresh token once rotated: had any new pair been dropped on the
    # floor, its install would now need a person. Every one refreshes again instead.
    again = cli(env, "refresh", "--all")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("refreshed 200, skipped 0, reauthorization required 0, failed 0")
