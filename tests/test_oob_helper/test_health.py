"""The pure refresh-token lifetime rules (oob_helper/health.py) and the setting that feeds them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from oob_helper.config import load_settings
from oob_helper.errors import ConfigurationError
from oob_helper.health import (
    DAY,
    PROBLEM_TEXT,
    health,
    keepalive_due,
    refresh_token_lapses_at,
    warnings_due,
)
from oob_helper.providers import AWEBER, CONSTANT_CONTACT
from oob_helper.tokens import InstallRecord, Token

CC = CONSTANT_CONTACT.refresh_token_lifetime
T0 = 1_800_000_000.0


def connected(
    issued: float | None = T0, used: float | None = None, refresh: str | None = "r"
) -> InstallRecord:
    token = Token(access_token="a", refresh_token=refresh, expires_at=T0 + 86400, obtained_at=T0)
    return InstallRecord(
        install="cc.example",
        token=token,
        state="connected",
        refresh_token_issued_at=issued,
        refresh_token_used_at=used,
    )


def test_the_providers_state_their_lifetime_policy() -> None:
    assert CC == 180 * DAY
    assert CONSTANT_CONTACT.refresh_token_rule == "must be used within 180 days"
    assert AWEBER.refresh_token_lifetime is None  # undocumented: treated as non-expiring


def test_a_refresh_token_lapses_a_lifetime_after_its_last_issue_or_use() -> None:
    assert refresh_token_lapses_at(connected(), CC) == T0 + 180 * DAY
    assert refresh_token_lapses_at(connected(used=T0 + 10 * DAY), CC) == T0 + 190 * DAY
    assert refresh_token_lapses_at(connected(issued=T0 + 5 * DAY, used=T0), CC) == T0 + 185 * DAY
    assert refresh_token_lapses_at(connected(), None) is None  # no limit (AWeber)
    assert refresh_token_lapses_at(connected(refresh=None), CC) is None  # nothing to lapse
    assert refresh_token_lapses_at(connected(issued=None), CC) is None  # an older record: unknown


@pytest.mark.parametrize(
    ("day", "problem", "since_day"),
    [
        (0, None, None),
        (150, None, None),
        (151, "refresh_overdue", 151),  # the default keepalive point (day 150) plus a day
        (165.9, "refresh_overdue", 151),
        (166, "refresh_token_expiring", 166),  # 14 days before the lapse
        (179.99, "refresh_token_expiring", 166),
        (180, "refresh_token_lapsed", 180),
        (400, "refresh_token_lapsed", 180),
    ],
)
def test_the_problem_over_a_refresh_tokens_life(
    day: float, problem: str | None, since_day: float | None
) -> None:
    found = health(connected(), CC, T0 + day * DAY)
    assert found.problem == problem
    assert found.since == (None if since_day is None else T0 + since_day * DAY)
    assert found.lapses_at == T0 + 180 * DAY
    assert found.needs_person is (problem == "refresh_token_lapsed")


def test_reauthorization_required_needs_a_person_whatever_the_lifetime() -> None:
    marked = replace(connected(), state="reauthorization_required", reason="revoked", state_changed_at=T0 + 5)
    for lifetime in (None, CC):
        found = health(marked, lifetime, T0 + 10)
        assert (found.problem, found.since, found.needs_person) == ("reauthorization_required", T0 + 5, True)
    assert health(InstallRecord(install="x"), CC, T0).problem is None  # never connected: no trouble


def test_keepalive_is_due_within_the_margin_or_when_the_age_is_unknown() -> None:
    assert not keepalive_due(connected(), CC, T0 + 149 * DAY)
    assert keepalive_due(connected(), CC, T0 + 150 * DAY)  # 30-day default margin
    assert not keepalive_due(connected(), CC, T0 + 160 * DAY, margin=14 * DAY)
    assert keepalive_due(connected(), CC, T0 + 166 * DAY, margin=14 * DAY)
    assert keepalive_due(connected(issued=None), CC, T0)  # unknown age: refresh to learn it
    assert not keepalive_due(connected(), None, T0 + 1000 * DAY)  # no lifetime: never due
    assert not keepalive_due(replace(connected(), state="reauthorization_required"), CC, T0 + 170 * DAY)


def test_warnings_come_due_once_per_refresh_token() -> None:
    record = connected()
    assert warnings_due(record, CC, T0 + 150 * DAY) == []
    assert warnings_due(record, CC, T0 + 151 * DAY) == ["refresh_overdue"]
    assert warnings_due(record, CC, T0 + 170 * DAY) == ["refresh_overdue", "refresh_token_expiring"]
    told = replace(record, overdue_warned_at=T0 + 151 * DAY)
    assert warnings_due(told, CC, T0 + 170 * DAY) == ["refresh_token_expiring"]
    assert warnings_due(replace(told, expiring_warned_at=T0 + 170 * DAY), CC, T0 + 171 * DAY) == []
    assert warnings_due(record, CC, T0 + 181 * DAY) == []  # lapsed: the refused refresh says it
    assert warnings_due(record, None, T0 + 1000 * DAY) == []


def test_a_short_lifetime_scales_the_thresholds_so_a_fresh_token_is_fine() -> None:
    two_days = 2 * DAY
    assert health(connected(), two_days, T0 + 1).problem is None
    assert not keepalive_due(connected(), two_days, T0 + 0.9 * DAY)
    assert keepalive_due(connected(), two_days, T0 + DAY)  # margin capped at half the lifetime
    assert health(connected(), two_days, T0 + 1.25 * DAY).problem == "refresh_overdue"
    assert health(connected(), two_days, T0 + 1.5 * DAY).problem == "refresh_token_expiring"


@pytest.mark.parametrize(
    ("provider", "value", "expected"),
    [
        ("aweber", None, None),
        ("constantcontact", None, 180 * DAY),
        ("aweber", "90d", 90 * DAY),
        ("constantcontact", "0", None),  # 0 = never expires, over the provider's rule
        ("constantcontact", "12h", 12 * 3600.0),
    ],
)
def test_the_lifetime_setting(provider: str, value: str | None, expected: float | None) -> None:
    environ = {"OOB_HELPER_PROVIDER": provider}
    if value is not None:
        environ["OOB_HELPER_REFRESH_TOKEN_LIFETIME"] = value
    settings = load_settings(overrides={}, environ=environ, config_file=None, require_client_id=False)
    assert settings.effective_refresh_token_lifetime == expected


def test_a_bad_lifetime_names_the_setting_and_the_fix() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(
            overrides={},
            environ={"OOB_HELPER_REFRESH_TOKEN_LIFETIME": "six months"},
            config_file=None,
            require_client_id=False,
        )
    message = str(raised.value)
    assert "OOB_HELPER_REFRESH_TOKEN_LIFETIME" in message
    assert "180d" in message


def test_the_fleet_view_shows_the_same_problems_and_the_lapse() -> None:
    from oob_helper.fleet import FleetQuery, fleet_page, fleet_row  # noqa: PLC0415

    expiring = replace(connected(), install="b.example")
    fresh = replace(connected(issued=T0 + 169 * DAY), install="a.example")
    now = T0 + 170 * DAY
    row = fleet_row(expiring, now, CC)
    assert row.problem == PROBLEM_TEXT["refresh_token_expiring"]
    assert row.problem_since == T0 + 166 * DAY
    assert row.refresh_token_lapses_at == T0 + 180 * DAY
    assert fleet_row(expiring, now).problem is None  # no lifetime: no lapse to warn of
    page = fleet_page([fresh, expiring], FleetQuery(problem="some"), now, lifetime=CC)
    assert [r.install for r in page.rows] == ["b.example"]
