"""Every pair of the ways a refresh token ends, raced over real HTTP: a refresh, the reuse of its
rotated predecessor (reuse detection on), QA's revocation, QA's zero lifetime and the client's
revoke request. The statuses, the verdicts given and what survives are always those of one of
the two orders run one after the other (the mock itself is the oracle, on fresh grants)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mock_server import MockConfig, MockServer
from tests.test_mock_server.test_verdicts import OOB

CLIENT = ("strict", "strict-secret")
ROUNDS = 6
Tokens = dict[str, str]
Outcome = tuple[tuple[int, ...], tuple[tuple[str, str], ...], int]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(rate_limit_enabled=False)) as server:
        yield server
        server.check_errors()


def _token(mock: MockServer, data: dict[str, str]) -> httpx.Response:
    return httpx.post(mock.token_url, auth=CLIENT, data=data)


def fresh(mock: MockServer) -> Tokens:
    """A grant whose first refresh token was rotated once: {"old", "live", "grant"}."""
    code = mock.approve(
        {"client_id": "strict", "redirect_uri": OOB, "response_type": "code", "scope": "account.read"}
    )["code"]
    first = _token(mock, {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}).json()
    live = _token(mock, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}).json()
    grants = {t["grant"] for t in mock.state()["tokens"]}
    assert len(grants) == 1
    return {"old": first["refresh_token"], "live": live["refresh_token"], "grant": grants.pop()}


def _status(call: Callable[[], object]) -> int:
    try:
        call()
    except Exception:  # a control call's failure shows as its own status
        return 599
    return 200


ACTIONS: dict[str, Callable[[MockServer, Tokens], int]] = {
    "refresh": lambda m, t: (
        _token(m, {"grant_type": "refresh_token", "refresh_token": t["live"]}).status_code
    ),
    "reuse": lambda m, t: _token(m, {"grant_type": "refresh_token", "refresh_token": t["old"]}).status_code,
    "qa_revoke": lambda m, t: _status(lambda: m.revoke_grant(t["grant"])),
    "qa_expire": lambda m, t: _status(lambda: m.set_refresh_lifetime(0, refresh_token=t["live"])),
    "client_revoke": lambda m, t: (
        httpx.post(m.revoke_url, auth=CLIENT, data={"token": t["live"]}).status_code
    ),
}


def outcome(mock: MockServer, since: int, statuses: tuple[int, ...]) -> Outcome:
    refused = tuple(
        sorted(
            (e["verdict"]["reason"], str((e["verdict"].get("cause") or {}).get("by")))
            for e in mock.refusals(since)
        )
    )
    return statuses, refused, len(mock.state()["tokens"])


def start(mock: MockServer) -> tuple[Tokens, int]:
    """A reset mock with one fresh grant, and the id of the last event so far."""
    mock.reset()
    mock.add_client(*CLIENT, [OOB], refresh_policy={"reuse_detection": True})
    mock.set_clock(frozen=True)
    tokens = fresh(mock)
    return tokens, mock.events()[-1]["id"]


def serial(mock: MockServer, first: str, second: str) -> Outcome:
    tokens, since = start(mock)
    a = ACTIONS[first](mock, tokens)
    b = ACTIONS[second](mock, tokens)
    return outcome(mock, since, (a, b))


def raced(mock: MockServer, first: str, second: str) -> Outcome:
    tokens, since = start(mock)
    barrier = threading.Barrier(2)

    def run(name: str) -> int:
        barrier.wait()
        return ACTIONS[name](mock, tokens)

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(run, first), pool.submit(run, second)
        statuses = (a.result(), b.result())
    return outcome(mock, since, statuses)


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(ACTIONS, 2)))
def test_racing_two_endings_gives_one_serial_outcome(mock: MockServer, first: str, second: str) -> None:
    forward = serial(mock, first, second)
    (b, a), refused, left = serial(mock, second, first)
    expected = {forward, ((a, b), refused, left)}
    for _ in range(ROUNDS):
        assert raced(mock, first, second) in expected
