"""Faults that target precisely (issue 11, item 2), over real HTTP to a running mock.

Match fields (method, path_prefix, grant_type, client_id) alone and together, the nth matching
request and count after it, faults after the work (status, drop, delay), atomic counting under
concurrent requests, and the 400s for bad specs.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from mock_server import MockServer, faults_asgi
from mock_server.faults import FaultTable, parse_fault

TOKEN = "/oauth2/token"
OOB = "urn:ietf:wg:oauth:2.0:oob"
AUTH = ("demo-confidential", "demo-secret")


@pytest.fixture
def mock(mock_aweber: MockServer) -> MockServer:
    """The session's mock, reset (faults included) before each test."""
    return mock_aweber


def connect(mock: MockServer, client_id: str = "demo-confidential") -> dict[str, Any]:
    """A code approved headlessly and exchanged: the first token answer."""
    approved = mock.approve(
        {"client_id": client_id, "redirect_uri": OOB, "response_type": "code", "scope": "account.read"}
    )
    form = {"grant_type": "authorization_code", "code": approved["code"], "redirect_uri": OOB}
    if client_id == "demo-confidential":
        response = httpx.post(mock.token_url, data=form, auth=AUTH)
    else:
        response = httpx.post(mock.token_url, data={**form, "client_id": client_id})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def refresh(mock: MockServer, refresh_token: str) -> httpx.Response:
    return httpx.post(
        mock.token_url, data={"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=AUTH
    )


def bogus_refresh(mock: MockServer, client: httpx.Client | None = None) -> int:
    """A refresh the handler refuses (400) unless a fault answers first: the status seen."""
    form = {"grant_type": "refresh_token", "refresh_token": "not-a-token"}
    post = client.post if client is not None else httpx.post
    return post(mock.token_url, data=form, auth=AUTH).status_code


def bogus_exchange(mock: MockServer) -> int:
    form = {"grant_type": "authorization_code", "code": "not-a-code", "redirect_uri": OOB}
    return httpx.post(mock.token_url, data=form, auth=AUTH).status_code


def only_fault(mock: MockServer) -> dict[str, Any]:
    [fault] = mock.faults()
    return fault


# --- each match field alone ------------------------------------------------------------------


def test_method_alone_faults_only_that_method(mock: MockServer) -> None:
    armed = mock.add_fault("/openapi.json", method="post", status=503)
    assert armed["method"] == "POST"  # normalised
    assert httpx.get(f"{mock.url}/openapi.json").status_code == 200
    assert only_fault(mock)["seen"] == 0
    assert httpx.post(f"{mock.url}/openapi.json").status_code == 503
    assert mock.faults() == []


def test_path_prefix_matches_the_path_and_everything_under_it_only(mock: MockServer) -> None:
    mock.add_fault(path_prefix="/1.0/accounts", status=503, count=2)
    assert httpx.get(f"{mock.url}/1.0/accountsX").status_code != 503
    assert httpx.get(f"{mock.url}/1.0/accounts").status_code == 503
    assert httpx.get(f"{mock.url}/1.0/accounts/123/lists").status_code == 503
    assert httpx.get(f"{mock.url}/1.0/accounts").status_code == 401  # used up: the handler answers


def test_grant_type_alone_leaves_other_grants_alone(mock: MockServer) -> None:
    mock.add_fault(TOKEN, grant_type="refresh_token", status=503)
    first = connect(mock)  # an authorization_code exchange: not faulted, not counted
    assert only_fault(mock)["seen"] == 0
    assert refresh(mock, first["refresh_token"]).status_code == 503
    assert mock.faults() == []


def test_client_id_by_basic_auth(mock: MockServer) -> None:
    mock.add_fault(TOKEN, client_id="demo-confidential", status=503)
    public = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "demo-public"}
    assert httpx.post(mock.token_url, data=public).status_code == 400  # another client: the handler
    assert only_fault(mock)["seen"] == 0
    assert bogus_refresh(mock) == 503  # demo-confidential via Basic
    assert mock.faults() == []


def test_client_id_in_the_form_and_in_a_json_body(mock: MockServer) -> None:
    mock.add_fault(TOKEN, client_id="demo-public", status=503, count=2)
    assert bogus_refresh(mock) == 400  # Basic names demo-confidential
    form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "demo-public"}
    assert httpx.post(mock.token_url, data=form).status_code == 503
    assert httpx.post(mock.token_url, json=form).status_code == 503
    assert mock.faults() == []


def test_client_id_on_the_revoke_endpoint(mock: MockServer) -> None:
    first = connect(mock)
    mock.add_fault("/oauth2/revoke", client_id="demo-confidential", status=500)
    revoke = {"token": first["refresh_token"]}
    assert (
        httpx.post(f"{mock.url}/oauth2/revoke", data={**revoke, "client_id": "demo-public"}).status_code
        != 500
    )
    assert httpx.post(f"{mock.url}/oauth2/revoke", data=revoke, auth=AUTH).status_code == 500


# --- combined, nth, count after nth -----------------------------------------------------------


def test_every_field_together_must_match(mock: MockServer) -> None:
    mock.add_fault(
        TOKEN, method="POST", grant_type="refresh_token", client_id="demo-confidential", nth=2, status=503
    )
    public = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "demo-public"}
    assert httpx.post(mock.token_url, data=public).status_code == 400  # wrong client
    assert bogus_exchange(mock) == 400  # wrong grant
    assert httpx.get(mock.token_url).status_code == 405  # wrong method
    assert only_fault(mock)["seen"] == 0
    assert bogus_refresh(mock) == 400  # the first match: skipped
    assert only_fault(mock)["seen"] == 1
    assert bogus_refresh(mock) == 503  # the second
    assert bogus_refresh(mock) == 400


def test_nth_hits_the_third_refresh_of_a_real_chain(mock: MockServer) -> None:
    mock.add_fault(TOKEN, grant_type="refresh_token", nth=3, status=503)
    token = connect(mock)["refresh_token"]
    for _ in range(2):
        answer = refresh(mock, token)
        assert answer.status_code == 200
        token = answer.json()["refresh_token"]
    assert refresh(mock, token).status_code == 503
    assert refresh(mock, token).status_code == 200  # nothing was done: the token still works


def test_count_applies_after_nth_and_the_listing_shows_progress(mock: MockServer) -> None:
    mock.add_fault(TOKEN, grant_type="refresh_token", nth=2, count=2, status=503)
    listed = httpx.get(f"{mock.url}/_mock/faults").json()
    assert listed == [
        {
            "id": listed[0]["id"],
            "path": TOKEN,
            "grant_type": "refresh_token",
            "nth": 2,
            "seen": 0,
            "count": 2,
            "kind": "status",
            "status": 503,
        }
    ]
    statuses = []
    for _ in range(4):
        statuses.append(bogus_refresh(mock))
        if len(statuses) == 2:
            assert (only_fault(mock)["seen"], only_fault(mock)["count"]) == (2, 1)
    assert statuses == [400, 503, 503, 400]
    assert mock.state()["faults"] == []


def test_non_matching_requests_never_fault_nor_use_the_count(mock: MockServer) -> None:
    mock.add_fault(TOKEN, grant_type="refresh_token", client_id="demo-confidential", status=503)
    public = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "demo-public"}
    for _ in range(5):
        assert bogus_exchange(mock) == 400
        assert httpx.post(mock.token_url, data=public).status_code == 400
    assert (only_fault(mock)["seen"], only_fault(mock)["count"]) == (0, 1)
    assert bogus_refresh(mock) == 503


def test_a_chunked_body_read_for_matching_reaches_the_handler_whole(mock: MockServer) -> None:
    """The body read to match is replayed: a streamed refresh that does not match still works."""
    first = connect(mock)
    mock.add_fault(TOKEN, client_id="demo-public", status=503)
    parts = [b"grant_type=refresh_", b"token&refresh_token=", first["refresh_token"].encode()]
    answer = httpx.post(
        mock.token_url,
        content=iter(parts),
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=AUTH,
    )
    assert answer.status_code == 200, answer.text
    assert "access_token" in answer.json()
    assert only_fault(mock)["seen"] == 0


def test_a_body_over_the_limit_is_not_matched_and_gets_413(mock: MockServer) -> None:
    mock.add_fault(TOKEN, grant_type="refresh_token", status=503)
    big = "grant_type=refresh_token&refresh_token=" + "a" * 70_000
    answer = httpx.post(
        mock.token_url, content=big, headers={"content-type": "application/x-www-form-urlencoded"}, auth=AUTH
    )
    assert answer.status_code == 413
    assert only_fault(mock)["seen"] == 0


# --- after the work ---------------------------------------------------------------------------


def test_status_after_work_rotates_the_refresh_token_while_the_client_sees_502(mock: MockServer) -> None:
    first = connect(mock)
    mock.add_fault(TOKEN, grant_type="refresh_token", status=502, after_work=True)
    answer = refresh(mock, first["refresh_token"])
    assert answer.status_code == 502
    assert "access_token" not in answer.text
    [faulted] = [e for e in mock.events() if e.get("fault") == "status"]
    assert (faulted["status"], faulted["result"], faulted["grant_type"]) == (502, "ok", "refresh_token")
    # The old refresh token is refused because that faulted request rotated it.
    retry = refresh(mock, first["refresh_token"])
    assert retry.status_code == 400
    verdict = mock.events()[-1]["verdict"]
    assert verdict["reason"] == "refresh_token_rotated"
    assert verdict["cause"]["request"] == faulted["request"]


def test_drop_after_work_targets_the_refresh_and_still_rotates(mock: MockServer) -> None:
    first = connect(mock)
    armed = mock.add_fault(TOKEN, grant_type="refresh_token", drop=True, after_work=True)
    assert armed["after_work"] is True
    with pytest.raises(httpx.RemoteProtocolError):
        refresh(mock, first["refresh_token"])
    [dropped] = [e for e in mock.events() if e.get("fault") == "drop"]
    assert (dropped["status"], dropped["result"]) == (200, "ok")
    assert refresh(mock, first["refresh_token"]).status_code == 400
    connect(mock)  # exchanges were never targeted


def test_delay_after_work_answers_normally_once_the_work_is_done(mock: MockServer) -> None:
    first = connect(mock)
    mock.add_fault(TOKEN, grant_type="refresh_token", delay_ms=20, after_work=True)
    answer = refresh(mock, first["refresh_token"])
    assert answer.status_code == 200
    assert "access_token" in answer.json()
    assert mock.events()[-1]["fault"] == "delay"


@pytest.mark.parametrize(
    ("after_work", "order"), [(False, ["wait", "work", "answer"]), (True, ["work", "wait", "answer"])]
)
def test_delay_waits_before_or_after_the_handler(after_work: bool, order: list[str]) -> None:
    """Which comes first, the wait or the work: checked by order, not by time."""
    log: list[str] = []

    async def wait(seconds: float) -> None:
        log.append("wait")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        log.append("work")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            log.append("answer")

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    fault = parse_fault({"path": "/p", "delay_ms": 5, "after_work": after_work})
    asyncio.run(faults_asgi.run_with_fault(fault, app, {"type": "http"}, receive, send, sleep=wait))
    assert log == order


# --- atomic counting --------------------------------------------------------------------------


def test_twenty_racing_refreshes_exactly_one_gets_the_fifth_turn(mock: MockServer) -> None:
    fault = mock.add_fault(TOKEN, grant_type="refresh_token", nth=5, count=1, status=503)
    barrier = threading.Barrier(30)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def run(kind: str) -> None:
        with httpx.Client() as client:
            barrier.wait(timeout=30)
            if kind == "refresh":
                status = bogus_refresh(mock, client)
            else:  # never matching: must neither fault nor count
                form = {"grant_type": "authorization_code", "code": "x", "redirect_uri": OOB}
                status = client.post(mock.token_url, data=form, auth=AUTH).status_code
        with lock:
            results.append((kind, status))

    threads = [threading.Thread(target=run, args=("refresh",)) for _ in range(20)]
    threads += [threading.Thread(target=run, args=("exchange",)) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 30
    refreshes = sorted(status for kind, status in results if kind == "refresh")
    assert refreshes == [400] * 19 + [503]
    assert all(status == 400 for kind, status in results if kind == "exchange")
    faulted = [e for e in mock.events() if e.get("fault_id") == fault["id"]]
    assert len(faulted) == 1
    # The handler never ran, yet the log shows what the fault matched on.
    assert (faulted[0]["grant_type"], faulted[0]["client_id"]) == ("refresh_token", "demo-confidential")
    assert mock.faults() == []


def test_the_table_gives_each_turn_once_under_threads() -> None:
    table = FaultTable()
    fault = table.add({"path": "/p", "method": "POST", "nth": 50, "count": 10, "status": 503})
    table.add({"path": "/other", "status": 500})
    hits: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait(timeout=10)
        mine = 0
        for _ in range(100):
            if table.take("/p", "POST") is not None:
                mine += 1
            assert table.take("/p", "GET") is None
        with lock:
            hits.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(hits) == 10
    assert fault.seen == 59  # it saw requests until its last turn was used: 49 skipped + 10
    assert [f["path"] for f in table.list()] == ["/other"]


def test_takes_racing_a_reset_and_an_add_never_overuse_a_fault() -> None:
    """take against reset: no turn is given after the reset returns; take against add: each
    fault gets its own id and is used at most its count."""
    table = FaultTable()
    table.add({"path": "/p", "count": 500, "status": 503})
    hits: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(5)
    added: list[int] = []

    def taker() -> None:
        barrier.wait(timeout=10)
        mine = 0
        for _ in range(400):
            if table.take("/p") is not None:
                mine += 1
        with lock:
            hits.append(mine)

    def disturber() -> None:
        barrier.wait(timeout=10)
        for _ in range(20):
            added.append(table.add({"path": "/p", "count": 5, "status": 502}).id)
        table.reset()

    threads = [threading.Thread(target=taker) for _ in range(4)] + [threading.Thread(target=disturber)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(set(added)) == 20
    assert sum(hits) <= 500 + 20 * 5
    assert table.list() == []
    assert table.take("/p") is None


def test_several_due_faults_apply_in_arming_order() -> None:
    table = FaultTable()
    early = table.add({"path": "/p", "nth": 2, "status": 500})
    late = table.add({"path_prefix": "/", "status": 502})
    # Request 1: only the late one is due; request 2: the early one's turn; then nothing.
    assert [table.take("/p"), table.take("/p"), table.take("/p")] == [late, early, None]


# --- bad specs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"path": TOKEN, "method": "FETCH", "status": 500}, "'method'"),
        ({"path": TOKEN, "method": 1, "status": 500}, "'method'"),
        ({"path": TOKEN, "nth": 0, "status": 500}, "'nth'"),
        ({"path": TOKEN, "nth": "3", "status": 500}, "'nth'"),
        ({"path": TOKEN, "nth": True, "status": 500}, "'nth'"),
        ({"path": TOKEN, "grant_type": "password", "status": 500}, "'grant_type'"),
        ({"path": TOKEN, "grant_type": ["refresh_token"], "status": 500}, "'grant_type'"),
        ({"path": TOKEN, "client_id": "", "status": 500}, "'client_id'"),
        ({"path": TOKEN, "client_id": 7, "status": 500}, "'client_id'"),
        ({"path": TOKEN, "path_prefix": "/oauth2", "status": 500}, "'path_prefix'"),
        ({"path_prefix": "oauth2", "status": 500}, "'path_prefix'"),
        ({"path_prefix": "/_mock/", "status": 500}, "'path_prefix'"),
        ({"path": TOKEN, "grant": "refresh_token", "status": 500}, "'grant'"),
        ({"path": TOKEN, "delay_ms": 5, "after_work": "yes"}, "'after_work'"),
        ({"path": TOKEN, "drop": True, "after_work": False}, "'after_work'"),
    ],
)
def test_bad_specs_get_400_naming_the_field(mock: MockServer, spec: dict[str, Any], named: str) -> None:
    response = httpx.post(f"{mock.url}/_mock/faults", json=spec)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert named in response.json()["error_description"]
    assert mock.faults() == []
