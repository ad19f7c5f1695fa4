"""``oob-helper status`` and ``refresh --all --keepalive`` as subprocesses, over installs whose
refresh tokens are of known ages, against the live Constant Contact-profile mock (issue 13).

The CLI keeps the wall clock, so the installs are connected through a helper whose clock reads
days in the past: the records say their refresh tokens were issued then (the mock, on its own
clock, still takes them). Refreshes are counted at the mock's request log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from secret_sweep import SecretSweep
from workers.common import MutableClock, Target, connect

from mock_server import MockConfig, MockServer
from oob_helper.cli_commands import iso_time
from oob_helper.health import DAY
from oob_helper.helper import OAuthHelper
from oob_helper.stores import open_store

SCRIPT = str(Path(sys.executable).with_name("oob-helper"))


@pytest.fixture(scope="module")
def cc_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(profile="constantcontact")) as server:
        yield server


class Site:
    """A store of Constant Contact installs, and the CLI pointed at it and at the mock."""

    def __init__(self, mock: MockServer, tmp_path: Path, sweep: SecretSweep) -> None:
        self.mock = mock
        self.sweep = sweep
        self.store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
        self.env = {
            **clean,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "OOB_HELPER_PROVIDER": "constantcontact",
            "OOB_HELPER_AUTH_BASE": mock.url,
            "OOB_HELPER_API_BASE": mock.url + "/v3",
            "OOB_HELPER_STORE": self.store_url,
            "OOB_HELPER_CLIENT_ID": "demo-confidential",
            "OOB_HELPER_CLIENT_SECRET": "demo-secret",
        }
        self.target = Target(mock.url, "demo-confidential", "demo-secret", profile="constantcontact")

    def helper(self, days_ago: float = 0.0) -> OAuthHelper:
        store = open_store(self.store_url, encryption_keys=())
        clock = MutableClock(time.time() - days_ago * DAY)
        return OAuthHelper(self.target.settings(self.store_url), store, clock=clock)

    def connect(self, install: str, days_ago: float = 0.0) -> float:
        """Connect ``install`` as if it happened ``days_ago``; returns that moment."""
        with self.helper(days_ago) as helper:
            return connect(self.mock, helper, install).refresh_token_issued_at or 0.0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [SCRIPT, *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        self.sweep.scan(f"oob-helper {' '.join(args)}", result.stdout, result.stderr)
        return result

    def status_json(self, *args: str, code: int = 0) -> Any:
        result = self.cli("status", "--json", *args)
        assert result.returncode == code, result.stderr
        return json.loads(result.stdout)

    def refreshes(self, since: int) -> int:
        return sum(
            1
            for e in self.mock.events(since)
            if e.get("grant_type") == "refresh_token" and e.get("result") == "ok"
        )

    def last_event(self) -> int:
        events = self.mock.events()
        return int(events[-1]["id"]) if events else 0


@pytest.fixture
def site(cc_mock: MockServer, tmp_path: Path, secret_sweep: SecretSweep) -> Iterator[Site]:
    cc_mock.reset()
    secret_sweep.watch_mock(cc_mock)
    secret_sweep.add("demo-secret")
    yield Site(cc_mock, tmp_path, secret_sweep)
    cc_mock.check_errors()


def test_status_shows_each_installs_problem_and_exits_3_when_a_person_is_needed(site: Site) -> None:
    site.connect("fresh.example")
    expiring_since = site.connect("expiring.example", days_ago=170)

    rows = {row["install"]: row for row in site.status_json()}  # a warning alone: exit 0
    assert rows["fresh.example"]["problem"] is None
    assert rows["fresh.example"]["needs_person"] is False
    expiring = rows["expiring.example"]
    assert expiring["problem"] == "refresh_token_expiring"
    assert expiring["needs_person"] is False
    assert expiring["refresh_token_lapses_at"] == iso_time(expiring_since + 180 * DAY)
    assert expiring["problem_since"] == iso_time(expiring_since + 166 * DAY)
    assert expiring["refresh_token_issued_at"] == iso_time(expiring_since)
    assert "refresh now" in expiring["problem_text"]

    table = site.cli("status")
    assert table.returncode == 0, table.stderr
    assert "PROBLEM" in table.stdout.splitlines()[0]
    since = iso_time(expiring_since + 166 * DAY)
    assert f"problem: install 'expiring.example': refresh_token_expiring since {since}" in table.stdout
    assert f"refresh token lapses {iso_time(expiring_since + 180 * DAY)}" in table.stdout
    # status told the warning: the record remembers it, so the next look does not repeat it.
    with site.helper() as helper:
        assert helper.status("expiring.example").expiring_warned_at is not None

    site.connect("lapsed.example", days_ago=181)
    site.connect("revoked.example")
    site.mock.revoke_tokens(client_id="demo-confidential")
    with site.helper() as helper:
        assert helper.refresh("revoked.example").result == "reauthorization_required"

    rows = {row["install"]: row for row in site.status_json(code=3)}
    assert rows["lapsed.example"]["problem"] == "refresh_token_lapsed"
    assert rows["lapsed.example"]["needs_person"] is True
    revoked = rows["revoked.example"]
    assert (revoked["problem"], revoked["needs_person"]) == ("reauthorization_required", True)
    assert revoked["problem_since"] == revoked["state_changed_at"]
    assert "invalid_grant" in revoked["reason"]
    table = site.cli("status")
    assert table.returncode == 3
    assert "problem: install 'revoked.example': reauthorization_required since" in table.stdout
    # Only the listed install counts.
    assert site.status_json("--install", "fresh.example")["problem"] is None
    assert site.status_json("--install", "lapsed.example", code=3)["problem"] == "refresh_token_lapsed"


def test_keepalive_refreshes_exactly_the_installs_that_are_due(site: Site) -> None:
    site.connect("due.example", days_ago=160)  # lapses in 20 days: inside the 30-day margin
    site.connect("later.example", days_ago=100)  # lapses in 80 days
    site.connect("fresh.example")
    site.connect("older-record.example")
    with site.helper() as helper:  # a record written before refresh-token ages were kept
        old = helper.status("older-record.example")
        helper.store.import_record(replace(old, refresh_token_issued_at=None))  # type: ignore[attr-defined]
    before = {r.install: r.last_refresh_at for r in site.helper().installs()}

    since = site.last_event()
    result = site.cli("refresh", "--all", "--keepalive")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "refreshed 2, skipped 0, reauthorization required 0, failed 0, not due 2 (4 installs in "
    )
    assert site.refreshes(since) == 2
    with site.helper() as helper:
        after = {r.install: r for r in helper.installs()}
    refreshed = {name for name, r in after.items() if r.last_refresh_at != before[name]}
    assert refreshed == {"due.example", "older-record.example"}
    assert after["older-record.example"].refresh_token_issued_at is not None  # now known

    since = site.last_event()
    again = site.cli("refresh", "--all", "--keepalive")
    assert again.stdout.startswith("refreshed 0, skipped 0, reauthorization required 0, failed 0, not due 4")
    assert site.refreshes(since) == 0

    since = site.last_event()
    wider = site.cli("refresh", "--all", "--keepalive", "--keepalive-margin", "90d")
    assert wider.stdout.startswith("refreshed 1, skipped 0, reauthorization required 0, failed 0, not due 3")
    assert site.refreshes(since) == 1

    one = site.cli("refresh", "--install", "fresh.example", "--keepalive")
    assert one.returncode == 0, one.stderr
    assert "not due 1" in one.stdout
    bad = site.cli("refresh", "--all", "--keepalive", "--keepalive-margin", "soon")
    assert bad.returncode == 2
    assert "'soon' is not a duration" in bad.stderr
    alone = site.cli("refresh", "--all", "--keepalive-margin", "10d")
    assert alone.returncode == 2
    assert "--keepalive-margin applies only with --keepalive" in alone.stderr


def test_a_lifetime_setting_of_0_means_never_due(site: Site) -> None:
    site.connect("due.example", days_ago=175)
    site.env["OOB_HELPER_REFRESH_TOKEN_LIFETIME"] = "0"
    since = site.last_event()
    result = site.cli("refresh", "--all", "--keepalive")
    assert result.stdout.startswith("refreshed 0, skipped 0, reauthorization required 0, failed 0, not due 1")
    assert site.refreshes(since) == 0
    assert site.status_json()[0]["problem"] is None
