"""Sandboxes over real HTTP: the control calls, isolation of every part of a world, links,
the dashboard, webhooks, the pytest plugin's sandbox mode, and 16 processes at once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sandbox_isolation import APP, OOB, SECRET, exercise

from mock_server import MockServer
from mock_server.app import create_app
from mock_server.config import MockConfig, config_from_mapping
from mock_server.edge import EdgeMiddleware

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def connect(url: str, scope: str = "account.read") -> dict[str, str]:
    """Approve and exchange a code in the world at ``url``; the token answer."""
    params = {"client_id": APP, "redirect_uri": OOB, "response_type": "code", "scope": scope}
    approved = httpx.post(f"{url}/_mock/approve", json={**params, "username": "demo"})
    assert approved.status_code == 200, approved.text
    answer = httpx.post(
        f"{url}/oauth2/token",
        data={"grant_type": "authorization_code", "code": approved.json()["code"], "redirect_uri": OOB},
        auth=(APP, SECRET),
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    return tokens


def accounts(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/1.0/accounts", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(max_sandboxes=3)) as server:
        yield server


# --- the control calls ------------------------------------------------------------------------


def test_create_list_and_delete(mock: MockServer) -> None:
    made = httpx.post(f"{mock.url}/_mock/sandboxes", json={"name": "ci-job-1"})
    assert made.status_code == 201, made.text
    assert made.json()["id"] == "ci-job-1"
    assert made.json()["url"] == f"{mock.url}/sandbox/ci-job-1"
    random_one = mock.create_sandbox()
    assert re.fullmatch(r"[0-9a-f]{16}", random_one["id"])
    listed = [s["id"] for s in mock.sandboxes()]
    assert listed == ["default", "ci-job-1", random_one["id"]]
    assert httpx.delete(f"{mock.url}/_mock/sandboxes/ci-job-1").status_code == 204
    gone = httpx.get(f"{mock.url}/sandbox/ci-job-1/_mock/clock")
    assert gone.status_code == 404
    assert gone.json()["error"] == "sandbox_not_found"
    assert "POST /_mock/sandboxes" in gone.json()["error_description"]
    assert [s["id"] for s in mock.sandboxes()] == ["default", random_one["id"]]


def test_a_path_seen_before_still_finds_only_a_live_sandbox(mock: MockServer) -> None:
    # The edge remembers how it split a sandbox path; the registry still decides liveness.
    path = "/sandbox/again/_mock/clock"
    assert httpx.get(mock.url + path).status_code == 404
    mock.create_sandbox("again")
    assert httpx.get(mock.url + path).status_code == 200
    assert httpx.delete(f"{mock.url}/_mock/sandboxes/again").status_code == 204
    assert httpx.get(mock.url + path).json()["error"] == "sandbox_not_found"
    mock.create_sandbox("again")
    assert httpx.get(mock.url + path).status_code == 200


def test_the_remembered_splits_stay_bounded_and_right() -> None:
    app = create_app(MockConfig())
    layer = app.build_middleware_stack()
    while not isinstance(layer, EdgeMiddleware):
        layer = layer.app  # type: ignore[attr-defined]
    for i in range(3000):
        assert layer._split(f"/sandbox/box{i}/oauth2/token") == (f"box{i}", "/oauth2/token")
    assert layer._split("/sandbox/" + "x" * 300 + "/rest") == ("x" * 300, "/rest")
    assert layer._split("/sandbox/bare") == ("bare", "")
    assert 0 < len(layer._splits) <= 1024
    assert all(len(path) <= 256 for path in layer._splits)


@pytest.mark.parametrize(
    ("body", "status", "error", "named"),
    [
        ({"name": "has space"}, 400, "sandbox_error", "invalid"),
        ({"name": "-leading"}, 400, "sandbox_error", "invalid"),
        ({"name": "x" * 65}, 400, "sandbox_error", "invalid"),
        ({"name": 7}, 400, "invalid_request", "must be a string"),
        ({"nme": "typo"}, 400, "invalid_request", "unknown field 'nme'"),
        ({"name": "default"}, 409, "sandbox_exists", "root world"),
    ],
)
def test_bad_create_requests_name_the_problem(
    mock: MockServer, body: dict[str, object], status: int, error: str, named: str
) -> None:
    answer = httpx.post(f"{mock.url}/_mock/sandboxes", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert named in answer.json()["error_description"]


def test_a_taken_name_is_409_and_the_cap_is_429(mock: MockServer) -> None:
    mock.create_sandbox("a")
    taken = httpx.post(f"{mock.url}/_mock/sandboxes", json={"name": "a"})
    assert taken.status_code == 409
    mock.create_sandbox("b")
    mock.create_sandbox("c")
    full = httpx.post(f"{mock.url}/_mock/sandboxes", json={})
    assert full.status_code == 429
    assert "max_sandboxes" in full.json()["error_description"]
    mock.delete_sandbox("a")  # room again
    assert httpx.post(f"{mock.url}/_mock/sandboxes", json={}).status_code == 201


def test_only_the_root_world_manages_sandboxes(mock: MockServer) -> None:
    box = mock.create_sandbox("inner")
    for method, path in [("POST", "sandboxes"), ("GET", "sandboxes"), ("DELETE", "sandboxes/inner")]:
        answer = httpx.request(method, f"{box['url']}/_mock/{path}", json={} if method == "POST" else None)
        assert answer.status_code == 404, (method, answer.text)
        assert "server's root" in answer.json()["error_description"]
    assert httpx.delete(f"{mock.url}/_mock/sandboxes/default").status_code == 400
    assert httpx.delete(f"{mock.url}/_mock/sandboxes/nope").status_code == 404


def test_sandbox_calls_are_control_calls_no_web_page_can_drive(mock: MockServer) -> None:
    as_form = httpx.post(
        f"{mock.url}/_mock/sandboxes", content=b'{"name": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert as_form.status_code == 415
    cross = httpx.post(f"{mock.url}/_mock/sandboxes", json={}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    foreign_host = httpx.post(f"{mock.url}/_mock/sandboxes", json={}, headers={"Host": "evil.example"})
    assert foreign_host.status_code == 421
    assert [s["id"] for s in mock.sandboxes()] == ["default"]


def test_a_control_token_guards_sandboxes_and_the_handle_carries_it() -> None:
    with MockServer(control_token="t0ken") as server:
        assert httpx.post(f"{server.url}/_mock/sandboxes", json={}).status_code == 401
        with server.sandbox() as box:
            assert box.advance_clock(60) > 0  # the handle sends the token inside the sandbox
            assert httpx.get(f"{box.url}/_mock/clock").status_code == 401


def test_sandbox_settings_are_validated() -> None:
    assert config_from_mapping({"max_sandboxes": 0, "sandbox_idle_timeout": 5}).max_sandboxes == 0
    with pytest.raises(ValueError, match="max_sandboxes must be an integer, 0 or more"):
        config_from_mapping({"max_sandboxes": -1})
    with pytest.raises(ValueError, match="sandbox_idle_timeout must be a positive integer"):
        config_from_mapping({"sandbox_idle_timeout": 0})


# --- isolation ---------------------------------------------------------------------------------


def test_tokens_codes_clock_faults_events_and_reset_stay_in_their_world(mock: MockServer) -> None:
    with mock.sandbox("a") as a, mock.sandbox("b") as b:
        tokens = connect(a.url)
        assert accounts(a.url, tokens["access_token"]).status_code == 200
        # The same demo client and user exist everywhere, yet the token is a's alone.
        assert accounts(b.url, tokens["access_token"]).status_code == 401
        assert accounts(mock.url, tokens["access_token"]).status_code == 401
        refused = httpx.post(
            f"{b.url}/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(APP, SECRET),
        )
        assert refused.status_code == 400
        # Clock
        before = mock.now()
        a.advance_clock(86400)
        assert a.now() - mock.now() > 86000
        assert abs(b.now() - mock.now()) < 60
        assert mock.now() - before < 60
        # Faults
        a.add_fault("/1.0/accounts", status=503, count=5)
        assert accounts(a.url, tokens["access_token"]).status_code == 503
        assert b.faults() == []
        assert mock.faults() == []
        b_tokens = connect(b.url)
        assert accounts(b.url, b_tokens["access_token"]).status_code == 200
        # Events: each world logs only its own requests, with paths relative to the world
        assert {e["path"] for e in a.events()} >= {"/oauth2/token", "/1.0/accounts"}
        # b saw a's refresh token (refused: unknown there) and its own exchange, nothing of a's
        b_token_calls = [e for e in b.events() if e["path"] == "/oauth2/token"]
        assert [e["status"] for e in b_token_calls] == [400, 200]
        assert [(e["path"], e["status"]) for e in mock.events()] == [("/1.0/accounts", 401)]
        # Reset: a's world only
        a.reset()
        assert a.faults() == []
        assert abs(a.now() - mock.now()) < 60
        assert accounts(b.url, b_tokens["access_token"]).status_code == 200


def test_every_link_the_api_returns_stays_inside_the_sandbox(mock: MockServer) -> None:
    with mock.sandbox() as box:
        token = connect(box.url, "account.read list.read")["access_token"]
        account = accounts(box.url, token).json()["entries"][0]
        lists = httpx.get(account["lists_collection_link"], headers={"Authorization": f"Bearer {token}"})
        assert lists.status_code == 200
        links = re.findall(r'"(https?://[^"]+)"', lists.text)
        assert links
        assert all(link.startswith(f"{box.url}/") for link in links), links
        spec = httpx.get(f"{box.url}/openapi.json").json()
        assert spec["servers"] == [{"url": box.url}]


def test_the_default_world_under_its_sandbox_prefix_keeps_the_prefix_in_links(mock: MockServer) -> None:
    # /sandbox/default/... is the root world; links built for such a request stay under it.
    base = f"{mock.url}/sandbox/default"
    spec = httpx.get(f"{base}/openapi.json").json()
    assert spec["servers"] == [{"url": base}]
    assert httpx.get(f"{mock.url}/openapi.json").json()["servers"] == [{"url": mock.url}]


def test_a_sandbox_serves_the_authorize_page_and_the_oob_code_page(mock: MockServer) -> None:
    with mock.sandbox() as box, httpx.Client(base_url=box.url, follow_redirects=False) as browser:
        page = browser.get(
            "/oauth2/authorize",
            params={"client_id": APP, "redirect_uri": OOB, "response_type": "code", "scope": "account.read"},
        )
        assert page.status_code == 200
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None


def test_the_dashboard_lists_sandboxes_and_shows_one_at_a_time(mock: MockServer) -> None:
    with mock.sandbox("qa-1") as box:
        root = httpx.get(f"{mock.url}/_mock/")
        assert 'href="/sandbox/qa-1/_mock/"' in root.text
        with httpx.Client(base_url=mock.url) as browser:
            page = browser.get("/sandbox/qa-1/_mock/")
            assert page.status_code == 200
            assert "sandbox <code>qa-1</code>" in page.text
            assert 'action="/sandbox/qa-1/_mock/dashboard/clock/advance"' in page.text
            assert 'action="/_mock/dashboard' not in page.text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            moved = browser.post(
                "/sandbox/qa-1/_mock/dashboard/clock/advance",
                data={"csrf_token": csrf.group(1), "seconds": "3600"},
                headers={"Origin": mock.url},
            )
            assert moved.status_code == 303
            assert moved.headers["location"].startswith("/sandbox/qa-1/_mock/?done=")
        assert box.now() - mock.now() > 3500


def test_webhooks_of_a_sandbox_are_delivered_with_its_links(mock: MockServer) -> None:
    received: list[bytes] = []
    arrived = threading.Event()

    from pytest_httpserver import HTTPServer  # noqa: PLC0415

    with HTTPServer(host="127.0.0.1", port=0) as hooks, mock.sandbox() as box:

        def handler(request: object) -> object:
            from werkzeug.wrappers import Response  # noqa: PLC0415

            received.append(request.get_data())  # type: ignore[attr-defined]
            arrived.set()
            return Response("ok")

        hooks.expect_request("/hooks/").respond_with_handler(handler)
        box.set_up_webhooks(APP, [hooks.url_for("/hooks/")])
        token = connect(box.url, "account.read subscriber.read subscriber.write")["access_token"]
        box.connect_webhook(APP, hooks.url_for("/hooks/"))
        added = httpx.post(
            f"{box.url}/1.0/accounts/1/lists/1001/subscribers",
            json={"email": "hook@example.com"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert added.status_code == 201, added.text
        assert arrived.wait(15)
        payload = json.loads(received[0])
        links = re.findall(r'"(https?://[^"]+)"', json.dumps(payload))
        assert links
        assert all(link.startswith(f"{box.url}/") for link in links), links
        assert mock.webhooks()["deliveries"] == []


# --- many processes, and the pytest plugin -----------------------------------------------------


@pytest.fixture
def served() -> Iterator[str]:
    """``mock-aweber serve`` in its own process, started once; its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    url = None
    for line in proc.stdout:
        found = re.search(r"base URL:\s+(http://\S+)", line)
        if found:
            url = found.group(1)
            break
    assert url, "mock-aweber serve printed no base URL"
    drain = threading.Thread(target=proc.stdout.read, daemon=True)  # keep the pipe from filling
    drain.start()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        drain.join(10)
        proc.stdout.close()


def test_sixteen_processes_share_one_mock_each_in_its_own_sandbox(served: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "sandbox_isolation.py"), served, str(seed), "30"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in range(16)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    failures = [err for p, (_, err) in zip(procs, results, strict=True) if p.returncode != 0]
    assert not failures, failures[0]
    summaries = [json.loads(out) for out, _ in results]
    assert len({s["sandbox"] for s in summaries}) == 16
    assert all(s["rounds"] == 30 and s["checks"] > 100 for s in summaries)
    # Nobody touched the root world, and every sandbox was deleted by its handle.
    root = httpx.get(f"{served}/_mock/events").json()
    assert [e for e in root if e["path"].startswith("/oauth2")] == []
    assert [s["id"] for s in httpx.get(f"{served}/_mock/sandboxes").json()["sandboxes"]] == ["default"]


def inner_pytest(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """pytest in a subprocess on the isolation suite (not collected by this run)."""
    quiet = ["-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-o", "python_files=check_*.py"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *quiet, *args, str(HERE / "check_sandbox_isolation.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def test_the_isolation_suite_under_xdist_against_one_server(served: str) -> None:
    run = inner_pytest("-n", "4", f"--mock-aweber-url={served}", "--mock-aweber-sandbox", timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "16 passed" in run.stdout
    assert [s["id"] for s in httpx.get(f"{served}/_mock/sandboxes").json()["sandboxes"]] == ["default"]


def test_the_plugin_names_an_unreachable_mock() -> None:
    run = inner_pytest("--mock-aweber-url=http://127.0.0.1:9", timeout=120)
    assert run.returncode == 2
    assert "mock-aweber at http://127.0.0.1:9 is not usable" in run.stdout + run.stderr


def test_the_handle_in_process_too(mock: MockServer) -> None:
    with mock.sandbox() as box:
        tenant = exercise(box, 7, 20)
        assert tenant.checks > 50
    assert [s["id"] for s in mock.sandboxes()] == ["default"]
