"""``mock-aweber serve --state FILE`` across real restarts (SIGTERM and SIGKILL), over real HTTP.

Each test starts the real command as a subprocess on port 0, talks to it with httpx and the
control API, stops it and starts it again on the same file. Expiry is driven by advancing the
mock's clock through the control API, never by sleeping.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from mock_server.runner import ControlClient
from tests.test_mock_server.test_cli import MOCK_AWEBER, Served

OOB = "urn:ietf:wg:oauth:2.0:oob"
CLIENT = ("demo-confidential", "demo-secret")
SCOPES = "account.read list.read subscriber.read subscriber.write"


class Mock:
    """One run of ``mock-aweber serve --state FILE``: its URL, HTTP and a control client."""

    def __init__(self, state: Path, *extra: str, served: Served | None = None) -> None:
        if served is None:
            served = Served([str(MOCK_AWEBER), "serve", "--port", "0", "--state", str(state), *extra])
        self.served = served
        self.url = self.served.base_url()
        # One transport for every run of a test would be cheaper, but a killed server's pooled
        # connections must not be reused: each run gets its own (made lazily: ~25 ms each).
        self._http: httpx.Client | None = None
        self._control: ControlClient | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=10)
        return self._http

    @property
    def control(self) -> ControlClient:
        if self._control is None:
            self._control = ControlClient(self.url)
        return self._control

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
        if self._http is not None:
            self._http.close()

    def term(self) -> int:
        """Stop with SIGTERM (a clean stop); the exit code."""
        self.close()
        code, _ = self.served.stop(signal.SIGTERM)
        return code

    def kill(self) -> None:
        """Stop with SIGKILL: no shutdown code runs."""
        self.close()
        self.served.kill()

    def connect(self) -> dict[str, Any]:
        """Approve headlessly and exchange the code: the token answer."""
        params = {"client_id": CLIENT[0], "redirect_uri": OOB, "response_type": "code", "scope": SCOPES}
        code = self.control.approve(params)["code"]
        answer = self.http.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
            auth=CLIENT,
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.http.post(
            "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=CLIENT
        )

    def api(self, access_token: str, path: str = "/1.0/accounts") -> httpx.Response:
        return self.http.get(path, headers={"Authorization": f"Bearer {access_token}"})

    def first_list(self, access_token: str) -> str:
        """The collection URL of the account's first list's subscribers."""
        account = self.api(access_token).json()["entries"][0]
        lists = self.api(access_token, f"/1.0/accounts/{account['id']}/lists").json()["entries"]
        return f"/1.0/accounts/{account['id']}/lists/{lists[0]['id']}/subscribers"

    def add_subscriber(self, access_token: str, collection: str, email: str) -> httpx.Response:
        return self.http.post(
            collection, json={"email": email}, headers={"Authorization": f"Bearer {access_token}"}
        )


# The mock-aweber console script is ``mock_server.cli:main``; this runs the same main, with the
# imports (most of a start's time) done before the go line arrives on stdin.
PREWARM = """
import sys
import uvicorn, mock_server.app, mock_server.cli
sys.stdin.readline()
sys.exit(mock_server.cli.main(["serve", "--port", "0", *sys.argv[1:]]))
"""


class Prewarmed(Served):
    """A ``mock-aweber serve`` process started ahead, serving once told to go."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PREWARM, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.printed: list[str] = []
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def go(self) -> Prewarmed:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()
        self.proc.stdin = None  # communicate() must not flush it again
        return self


@pytest.fixture
def started() -> Iterator[list[Mock]]:
    """Every Mock a test starts, killed at the end if still running."""
    mocks: list[Mock] = []
    yield mocks
    for mock in mocks:
        mock.close()
        mock.served.kill()


@pytest.fixture
def start(started: list[Mock], tmp_path: Path) -> Any:
    """Start ``mock-aweber serve --state <tmp>/mock-state.db`` (plus flags); the Mock."""

    def run(*extra: str, state: Path | None = None, served: Served | None = None) -> Mock:
        mock = Mock(state or tmp_path / "mock-state.db", *extra, served=served)
        started.append(mock)
        return mock

    return run


def _path(location: str) -> str:
    return httpx.URL(location).path


def test_tokens_clock_and_api_data_survive_sigterm_and_expire_as_the_clock_says(start: Any) -> None:
    mock = start()
    assert "(new: nothing to restore)" in mock.served.wait_for(r"state file:\s+(.*)").group(1)
    tokens = mock.connect()
    collection = mock.first_list(tokens["access_token"])
    added = mock.add_subscriber(tokens["access_token"], collection, "kept@example.com")
    assert added.status_code == 201
    mock.control.advance_clock(7200 - 600)  # 10 minutes of the access token's 2 hours left
    wall_0a = time.time()
    mock_0 = mock.control.now()
    wall_0b = time.time()
    assert mock.term() == 143

    mock = start()
    assert mock.served.wait_for(r"state file:\s+(.*)").group(1).endswith("(restored)")
    wall_1a = time.time()
    mock_1 = mock.control.now()
    wall_1b = time.time()
    # Mock time ran on through the downtime exactly as wall time did (the offset from wall time
    # is what is saved): the two readings are as far apart as the wall times bracketing them.
    assert wall_1a - wall_0b - 1e-3 <= mock_1 - mock_0 <= wall_1b - wall_0a + 1e-3
    assert mock.api(tokens["access_token"]).status_code == 200
    assert (
        mock.http.get(
            _path(added.headers["Location"]), headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 200
    )
    mock.control.advance_clock(601)
    expired = mock.api(tokens["access_token"])
    assert expired.status_code == 401
    assert "expired" in expired.text
    assert mock.control.refusals()[-1]["verdict"]["reason"] == "expired"


def test_a_frozen_clock_comes_back_at_the_same_instant(start: Any) -> None:
    mock = start()
    frozen = mock.control.set_clock(1_900_000_000.0, frozen=True)
    assert mock.term() == 143
    mock = start()
    assert mock.control.clock() == {"now": frozen, "frozen": True}


def test_the_refresh_chain_continues_after_sigkill(start: Any) -> None:
    mock = start()
    first = mock.connect()
    second = mock.refresh(first["refresh_token"])
    assert second.status_code == 200
    mock.kill()

    mock = start()
    rotated = mock.refresh(first["refresh_token"])
    assert rotated.status_code == 400
    assert rotated.json()["error"] == "invalid_grant"
    assert mock.control.refusals()[-1]["verdict"]["reason"] == "refresh_token_rotated"
    third = mock.refresh(second.json()["refresh_token"])
    assert third.status_code == 200
    assert mock.api(third.json()["access_token"]).status_code == 200


def test_clients_users_webhooks_and_faults_come_back(start: Any) -> None:
    mock = start()
    mock.control.add_client("kept-app", "kept-secret", [OOB], "Kept application")
    mock.control.add_user("kept-user", "kept-password")
    mock.control.set_up_webhooks("kept-app", ["https://hooks.example.com/"])
    mock.control.add_fault("/oauth2/token", count=2, status=503)
    mock.kill()

    mock = start()
    state = mock.control.state()
    assert "kept-app" in [c["client_id"] for c in state["clients"]]
    assert "kept-user" in [u["username"] for u in state["users"]]
    assert "kept-app" in str(mock.control.webhooks())
    faults = mock.control.faults()
    assert [(f["path"], f["count"]) for f in faults] == [("/oauth2/token", 2)]
    # The fault's turns are state too: one taken, then a restart, leaves one.
    assert mock.refresh("whatever").status_code == 503
    mock.kill()
    mock = start()
    assert [f["count"] for f in mock.control.faults()] == [1]


def test_state_file_is_private_and_a_foreign_file_is_a_clear_error(start: Any, tmp_path: Path) -> None:
    mock = start()
    mock.control.advance_clock(1)  # any write
    state = tmp_path / "mock-state.db"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert mock.term() == 143

    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes, not a database\n" * 100)
    for bad, words in ((foreign, "not a mock-aweber state file"), (tmp_path, "pass a file path")):
        served = Served([str(MOCK_AWEBER), "serve", "--port", "0", "--state", str(bad)])
        _, err = served.proc.communicate(timeout=30)
        assert served.proc.returncode == 2
        assert words in err
        assert str(bad) in err
        assert "--state" in err
        assert "Traceback" not in err
    assert foreign.read_text().startswith("my notes")  # left as it was


def test_a_damaged_world_and_a_second_server_are_clear_errors(start: Any, tmp_path: Path) -> None:
    state = tmp_path / "mock-state.db"
    mock = start()
    mock.control.advance_clock(1)
    second = Served([str(MOCK_AWEBER), "serve", "--port", "0", "--state", str(state)])
    _, err = second.proc.communicate(timeout=30)
    assert second.proc.returncode == 2
    assert "in use by another mock-aweber" in err
    mock.kill()

    db = sqlite3.connect(state)
    db.execute("UPDATE worlds SET snapshot = substr(snapshot, 1, length(snapshot) / 2)")
    db.commit()
    db.close()
    damaged = Served([str(MOCK_AWEBER), "serve", "--port", "0", "--state", str(state)])
    _, err = damaged.proc.communicate(timeout=30)
    assert damaged.proc.returncode == 2
    assert "cannot be restored" in err
    assert "delete the file" in err
    assert "Traceback" not in err


def test_without_state_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server runs in an empty directory with an empty home: any file it wrote would show.
    monkeypatch.chdir(tmp_path)
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    served = Served([str(MOCK_AWEBER), "serve", "--port", "0"], env=env)
    try:
        control = ControlClient(served.base_url())
        served.wait_for("Press Ctrl-C")
        control.add_user("someone", "pw")
        control.advance_clock(60)
        control.close()
        code, _ = served.stop(signal.SIGTERM)
        assert code == 143
    finally:
        served.kill()
    assert "state file:" not in "".join(served.printed)
    assert os.listdir(tmp_path) == []


KILLS = 50


@pytest.mark.slow
def test_fifty_sigkills_during_writes_leave_old_or_new_state_never_corrupt(
    start: Any, tmp_path: Path
) -> None:
    """A client refreshes and adds subscribers while the server is SIGKILLed at random moments.

    After each restart the file is intact and every answer the client got is reflected: the
    last refresh token it received still works, unless the refresh it had in flight was saved
    (then that token is refused as rotated, never as unknown), and every subscriber whose add
    was answered 201 is there.
    """
    rng = random.Random(115)  # the kill moments, reproducible
    state = tmp_path / "mock-state.db"
    flags = ["--state", str(state), "--config", str(_no_rate_limit(tmp_path))]
    spares: list[Prewarmed] = []
    try:
        _fifty_kills(start, state, flags, spares, rng)
    finally:
        for spare in spares:
            spare.kill()


def _fifty_kills(
    start: Any, state: Path, flags: list[str], spares: list[Prewarmed], rng: random.Random
) -> None:
    mock = start(*flags[2:])
    tokens = mock.connect()
    access, refresh_token = tokens["access_token"], tokens["refresh_token"]
    collection = mock.first_list(access)
    confirmed: list[str] = []  # subscriber URLs answered 201
    for kill in range(KILLS):
        # Runs start two rounds ahead: their imports overlap this round's writes.
        while len(spares) < min(kill + 3, KILLS):
            spares.append(Prewarmed(flags))
        received: dict[str, Any] = {"access": access, "refresh": refresh_token, "added": []}
        stop, started_writing = threading.Event(), threading.Event()
        received["answered"] = started_writing
        worker = threading.Thread(target=_write_loop, args=(mock.url, collection, received, stop, kill))
        worker.start()
        # A random moment in the writes (not an expiry wait), once the first write was answered.
        assert started_writing.wait(30)
        time.sleep(rng.uniform(0.0, 0.1))
        mock.kill()
        stop.set()
        worker.join(30)
        assert not worker.is_alive()
        assert sqlite3.connect(state).execute("PRAGMA integrity_check").fetchone()[0] == "ok"

        mock = start(served=spares[kill].go())
        confirmed.extend(received["added"])
        for location in received["added"]:
            got = mock.http.get(location, headers={"Authorization": f"Bearer {received['access']}"})
            assert got.status_code == 200, (kill, location, got.text)
        answer = mock.refresh(received["refresh"])
        if answer.status_code != 200:
            # Only the refresh in flight at the kill may have moved on past what was received.
            reason = mock.control.refusals()[-1]["verdict"]["reason"]
            assert reason == "refresh_token_rotated", (kill, answer.text, reason)
            answer = httpx.Response(200, json=mock.connect())
        access, refresh_token = answer.json()["access_token"], answer.json()["refresh_token"]
    for location in confirmed:
        assert mock.http.get(location, headers={"Authorization": f"Bearer {access}"}).status_code == 200
    assert len(confirmed) > KILLS  # the writes really raced the kills
    assert mock.term() == 143


def _no_rate_limit(tmp_path: Path) -> Path:
    config = tmp_path / "mock.toml"
    config.write_text("rate_limit_enabled = false\n")
    return config


def _write_loop(
    url: str, collection: str, received: dict[str, Any], stop: threading.Event, kill: int
) -> None:
    """Refresh and add subscribers until the server dies, keeping only answers fully received."""
    number = 0
    with httpx.Client(base_url=url, timeout=5) as http:
        while not stop.is_set():
            number += 1
            try:
                if number % 2:
                    answer = http.post(
                        "/oauth2/token",
                        data={"grant_type": "refresh_token", "refresh_token": received["refresh"]},
                        auth=CLIENT,
                    )
                    if answer.status_code == 200:
                        received["access"], received["refresh"] = (
                            answer.json()["access_token"],
                            answer.json()["refresh_token"],
                        )
                else:
                    answer = http.post(
                        collection,
                        json={"email": f"k{kill}-{number}@example.com"},
                        headers={"Authorization": f"Bearer {received['access']}"},
                    )
                    if answer.status_code == 201:
                        received["added"].append(_path(answer.headers["Location"]))
                received["answered"].set()
            except httpx.HTTPError:
                return  # the server was killed


def test_a_change_that_cannot_be_saved_is_answered_500_not_acknowledged(tmp_path: Path) -> None:
    """Another program holding the file's write lock makes the save fail (after SQLite's busy
    wait): the client is told the change is not on disk instead of getting its answer."""
    from mock_server.runner import MockServer  # noqa: PLC0415 - the in-process runner's pass-through

    path = tmp_path / "mock-state.db"
    with MockServer(state_file=path) as mock:
        mock.add_user("saved-user", "pw")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            answer = httpx.post(
                f"{mock.url}/_mock/users", json={"username": "unsaved-user", "password": "pw"}, timeout=30
            )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert answer.status_code == 500
        assert answer.json()["error"] == "state_not_saved"
        assert "mock-state.db" in answer.json()["error_description"]
        assert "database is locked" in answer.json()["error_description"]
        mock.advance_clock(1)  # the next write saves everything, the unsaved change included
    with MockServer(state_file=path) as again:
        users = [u["username"] for u in again.state()["users"]]
        assert "saved-user" in users
        assert "unsaved-user" in users


def test_sandboxes_come_back_and_a_deleted_one_does_not(start: Any) -> None:
    mock = start()
    kept = mock.control.create_sandbox("kept-box")
    mock.control.create_sandbox("empty-box")  # never written to: saved when created
    doomed = mock.control.create_sandbox("doomed-box")
    box = ControlClient(kept["url"])
    box.add_user("box-user", "pw")
    params = {"client_id": CLIENT[0], "redirect_uri": OOB, "response_type": "code", "scope": SCOPES}
    code = box.approve(params, username="box-user")["code"]
    tokens = httpx.post(
        f"{kept['url']}/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=CLIENT,
    ).json()
    box.advance_clock(3600)
    box_now = box.now()
    box.close()
    ControlClient(doomed["url"]).close()
    mock.control.delete_sandbox("doomed-box")
    mock.kill()

    mock = start()
    ids = [s["id"] for s in mock.control.sandboxes()]
    assert "kept-box" in ids
    assert "empty-box" in ids
    assert "doomed-box" not in ids
    box = ControlClient(kept["url"].replace(kept["url"].split("/sandbox/")[0], mock.url))
    assert "box-user" in [u["username"] for u in box.state()["users"]]
    assert box.now() >= box_now  # its own clock, still an hour ahead
    assert "box-user" not in [u["username"] for u in mock.control.state()["users"]]
    accounts = httpx.get(
        f"{box.url}/1.0/accounts", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert accounts.status_code == 200
    # The token lives in the sandbox only: the default world never issued it.
    assert mock.api(tokens["access_token"]).status_code == 401
    box.close()


class _Hooks(BaseHTTPRequestHandler):
    """A receiver that answers 200 and counts what it got."""

    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_webhook_delivery_the_worker_recorded_is_not_sent_again_after_a_kill(start: Any) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    _Hooks.received = []
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hooks = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/"
    try:
        mock = start()
        mock.control.set_up_webhooks(CLIENT[0], [hooks])
        tokens = mock.connect()
        mock.control.connect_webhook(CLIENT[0], hooks + "aweber/")
        added = mock.add_subscriber(
            tokens["access_token"], mock.first_list(tokens["access_token"]), "hook@example.com"
        )
        assert added.status_code == 201
        # The worker saves in the same step as it records (no await between), so once the
        # record shows, it is on disk. Waiting is for the delivery, never for time to pass.
        deadline = time.monotonic() + 15
        while [d["state"] for d in mock.control.webhooks()["deliveries"]] != ["delivered"]:
            assert time.monotonic() < deadline, mock.control.webhooks()["deliveries"]
            time.sleep(0.02)
        assert len(_Hooks.received) == 1
        before = mock.control.webhooks()["deliveries"]
        mock.kill()

        mock = start()
        # Exactly the recorded delivery: a resend after the restart would add or change an
        # attempt (its time), and an unsaved record would show the delivery pending.
        assert mock.control.webhooks()["deliveries"] == before
        assert [a["status"] for a in before[0]["attempts"]] == [200]
    finally:
        receiver.shutdown()
        receiver.server_close()
