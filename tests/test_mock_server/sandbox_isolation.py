"""One tenant's random walk through its own sandbox, checking it never sees another's world.

Used three ways: by test_sandboxes_served (in-process), as a script run by 16 processes at once
against one ``mock-aweber serve`` (``python sandbox_isolation.py URL SEED ROUNDS``), and by
the xdist suite in ``isolation_suite/`` through the pytest plugin's sandbox mode.

Every tenant uses the same client id, user and list ids as every other (the demo ones), so a
leak would show as a token that works where it should not, an event or fault this tenant never
made, or a clock that moved by someone else's advance. Each tenant advances its clock only by
multiples of its own unit, so a foreign advance cannot cancel out.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from mock_server.runner import ControlClient

OOB = "urn:ietf:wg:oauth:2.0:oob"
APP, SECRET = "demo-confidential", "demo-secret"
# Mock time may differ from the wall by the tenant's own advances only; the slack covers the
# seconds a round takes on a loaded machine.
SLACK = 120.0


@dataclass
class Tenant:
    """What this tenant has done since its last reset, to compare with what its sandbox shows."""

    box: ControlClient
    unit: float
    rng: random.Random
    offset: float = 0.0
    refresh_token: str | None = None
    access_token: str | None = None
    token_calls: int = 0
    faults: list[int] = field(default_factory=list)
    rounds: int = 0
    checks: int = 0

    def http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.box.url}{path}", timeout=30.0, **kwargs)

    def expect(self, ok: bool, what: str) -> None:
        self.checks += 1
        if not ok:
            raise AssertionError(f"sandbox {self.box.sandbox_id}: {what}")

    # -- steps ----------------------------------------------------------------------------
    def connect(self) -> None:
        params = {"client_id": APP, "redirect_uri": OOB, "response_type": "code", "scope": "account.read"}
        code = self.box.approve(params)["code"]
        answer = self.http(
            "POST",
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
            auth=(APP, SECRET),
        )
        self.token_calls += 1
        self.expect(answer.status_code == 200, f"exchange answered {answer.status_code} {answer.text}")
        self.refresh_token = answer.json()["refresh_token"]
        self.access_token = answer.json()["access_token"]

    def refresh(self) -> None:
        if self.refresh_token is None:
            return
        answer = self.http(
            "POST",
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
            auth=(APP, SECRET),
        )
        self.token_calls += 1
        # Access tokens live two hours; the tenant's clock may have moved past the refresh
        # token's lifetime only by its own advances, which it knows about.
        self.expect(answer.status_code == 200, f"refresh answered {answer.status_code} {answer.text}")
        self.refresh_token = answer.json()["refresh_token"]
        self.access_token = answer.json()["access_token"]

    def use_api(self) -> None:
        if self.access_token is None:
            return
        answer = self.http("GET", "/1.0/accounts", headers={"Authorization": f"Bearer {self.access_token}"})
        self.expect(answer.status_code == 200, f"the API answered {answer.status_code} {answer.text}")
        links = [entry["self_link"] for entry in answer.json()["entries"]]
        self.expect(
            all(link.startswith(self.box.url + "/") for link in links), f"links left the sandbox: {links}"
        )

    def advance(self) -> None:
        step = self.unit * self.rng.randint(1, 3)
        self.box.advance_clock(step)
        self.offset += step
        if self.offset > 5000:  # before the access token's two hours are up: start over
            self.reset()

    def arm_fault(self) -> None:
        # On a path this tenant never calls: armed faults must stay listed, and only here.
        fault = self.box.add_fault("/oauth2/revoke", status=503, count=1000)
        self.faults.append(int(fault["id"]))

    def clear_faults(self) -> None:
        self.box.clear_faults()
        self.faults.clear()

    def reset(self) -> None:
        old = self.access_token
        self.box.reset()
        self.after_reset()
        if old is not None:  # its tokens are gone with its world
            answer = self.http("GET", "/1.0/accounts", headers={"Authorization": f"Bearer {old}"})
            self.expect(
                answer.status_code == 401, f"a token survived its sandbox's reset: {answer.status_code}"
            )

    def after_reset(self) -> None:
        self.offset = 0.0
        self.refresh_token = self.access_token = None
        self.token_calls = 0
        self.faults.clear()

    # -- what the sandbox shows ----------------------------------------------------------
    def check(self) -> None:
        drift = self.box.now() - time.time()
        self.expect(
            abs(drift - self.offset) < SLACK,
            f"clock is {drift:.0f}s off the wall, expected {self.offset:.0f}s",
        )
        armed = sorted(int(f["id"]) for f in self.box.faults())
        self.expect(
            armed == sorted(self.faults), f"faults {armed} are not this tenant's {sorted(self.faults)}"
        )
        token_events = [e for e in self.box.events() if e.get("path") == "/oauth2/token"]
        self.expect(
            len(token_events) == self.token_calls,
            f"{len(token_events)} token requests logged, this tenant made {self.token_calls}",
        )
        tokens = [t for t in self.box.state()["tokens"] if t["type"] == "access"]
        self.expect(len(tokens) <= self.token_calls, f"{len(tokens)} tokens live, more than this tenant got")

    def step(self) -> None:
        action = self.rng.choice(
            [
                self.connect,
                self.refresh,
                self.use_api,
                self.advance,
                self.arm_fault,
                self.clear_faults,
                self.reset,
            ]
        )
        action()
        self.check()
        self.rounds += 1


def exercise(box: ControlClient, seed: int, rounds: int) -> Tenant:
    """Walk ``rounds`` random steps in ``box``'s sandbox, checking isolation after each."""
    rng = random.Random(seed)
    tenant = Tenant(box, unit=float(60 + seed % 97), rng=rng)
    box.reset()
    tenant.connect()
    tenant.check()
    for _ in range(rounds):
        tenant.step()
    return tenant


def main(argv: list[str]) -> int:
    """``sandbox_isolation.py URL SEED ROUNDS``: one tenant in a new sandbox; prints a summary."""
    url, seed, rounds = argv[0], int(argv[1]), int(argv[2])
    with ControlClient(url) as root, root.sandbox() as box:
        tenant = exercise(box, seed, rounds)
        print(json.dumps({"sandbox": box.sandbox_id, "rounds": tenant.rounds, "checks": tenant.checks}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
