"""The fleet view (issue 13, item 7): rows, filters, search and keyset paging, and the mountable
page over real HTTP (its own authorization hook, read-only, bad parameters answered 400)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from oob_helper.config import Settings
from oob_helper.fleet import BadQuery, FleetQuery, fleet_page
from oob_helper.helper import OAuthHelper
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token
from oob_helper.web.fleet import fleet_app
from oob_helper.web.runner import WebServer

NOW = 1_800_000_000.0


def make_record(i: int) -> InstallRecord:
    """Install ``i``: every fifth needs reauthorization, every seventh has no refresh token and
    an expired access token (a problem), the rest are healthy."""
    name = f"site{i:05d}.example"
    token = Token(
        access_token=f"AT-SECRET-{i}",
        refresh_token=None if i % 7 == 3 else f"RT-SECRET-{i}",
        expires_at=NOW - 60 if i % 7 == 3 else NOW + 3600,
        obtained_at=NOW - 3600,
    )
    if i % 5 == 0:
        return InstallRecord(
            install=name,
            token=token,
            state="reauthorization_required",
            reason=f"the provider refused the refresh token (invalid_grant) #{i}",
            state_changed_at=NOW - 86400,
            account_name=f"Account {i}",
            version=1,
        )
    return InstallRecord(
        install=name,
        token=token,
        state="connected",
        account_name=f"Account {i}",
        version=1,
        last_refresh_at=NOW,
    )


RECORDS = [make_record(i) for i in range(1, 1001)]


def all_pages(query: FleetQuery, *, scan_limit: int = 5000) -> list[str]:
    """Every install the query lists, following next links from the first page."""
    seen: list[str] = []
    after = ""
    for _ in range(10_000):
        page = fleet_page(
            (r for r in RECORDS if r.install > after),
            replace(query, after=after),
            NOW,
            scan_limit=scan_limit,
        )
        seen += [row.install for row in page.rows]
        if page.next_after is None:
            return seen
        assert page.next_after > after  # keyset: always forward
        after = page.next_after
    raise AssertionError("paging did not end")


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({}, lambda r: True),
        ({"state": "reauthorization_required"}, lambda r: r.state == "reauthorization_required"),
        ({"state": "connected"}, lambda r: r.state == "connected"),
        (
            {"problem": "some"},
            lambda r: r.state != "connected" or r.token.refresh_token is None,
        ),
        (
            {"problem": "none"},
            lambda r: r.state == "connected" and r.token.refresh_token is not None,
        ),
        ({"q": "SITE0012"}, lambda r: "site0012" in r.install),
        ({"q": "9.ex", "state": "connected"}, lambda r: "9.ex" in r.install and r.state == "connected"),
    ],
)
def test_pages_list_each_matching_install_once_in_order(params: dict[str, str], keep: object) -> None:
    expected = [r.install for r in RECORDS if keep(r)]  # type: ignore[operator]
    for limit, scan_limit in ((7, 5000), (50, 5000), (50, 30), (500, 1)):
        query = FleetQuery.parse({**params, "limit": str(limit)})
        assert all_pages(query, scan_limit=scan_limit) == expected, (limit, scan_limit)


def test_a_bounded_scan_says_it_stopped_and_where_to_go_on() -> None:
    page = fleet_page(iter(RECORDS), FleetQuery(search="00999"), NOW, scan_limit=100)
    assert (page.rows, page.scanned, page.stopped_early) == ((), 100, True)
    assert page.next_after == RECORDS[99].install


def test_rows_carry_the_problem_in_words_and_no_secret() -> None:
    page = fleet_page(iter(RECORDS[:10]), FleetQuery(limit=10), NOW)
    rows = {row.install: row for row in page.rows}
    assert rows["site00005.example"].problem == "the provider refused the refresh token (invalid_grant) #5"
    assert rows["site00005.example"].problem_since == NOW - 86400
    assert rows["site00003.example"].problem == "the access token expired and no refresh token was issued"
    assert rows["site00001.example"].problem is None
    assert "SECRET" not in repr(page) + str([row.to_dict() for row in page.rows])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "broken"}, "state must be one of all, connected, reauthorization_required"),
        ({"problem": "maybe"}, "problem must be one of any, none, some"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "ten"}, "limit must be a whole number"),
        ({"q": "x" * 201}, "longer than 200 characters"),
        ({"after": "a\nb"}, "after must be an install name"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadQuery, match=message):
        FleetQuery.parse(params)


# -- the page over real HTTP ---------------------------------------------------------------


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[OAuthHelper]:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    store = open_store(url, encryption_keys=())
    store.import_records(iter(RECORDS))  # type: ignore[attr-defined]
    helper = OAuthHelper(Settings(provider=AWEBER, client_id="fleet", store_url=url), store)
    yield helper
    helper.close()


def operator_only(request: Request) -> bool:
    return request.headers.get("X-Operator") == "yes"


@pytest.fixture
def server(helper: OAuthHelper) -> Iterator[WebServer]:
    fleet = fleet_app(
        helper,
        authorize=operator_only,
        clock=lambda: NOW,
        site_url=lambda install: f"https://{install}/wp-admin/aweber",
        page_size=20,
    )
    host = Starlette(routes=[Mount("/ops/aweber", app=fleet)])
    with WebServer(host) as running:
        yield running
        running.check_errors()


def test_the_page_lists_pages_and_filters_under_its_mount_path(server: WebServer) -> None:
    ops = {"X-Operator": "yes"}
    with httpx.Client(base_url=server.url, headers=ops) as http:
        first = http.get("/ops/aweber/")
        assert first.status_code == 200
        body = first.text
        assert body.count('<tr class="state-') == 20
        assert 'href="https://site00001.example/wp-admin/aweber"' in body
        assert 'href="/ops/aweber/?after=site00020.example" rel="next"' in body
        assert 'href="/ops/aweber/static/style.css"' in body
        assert "SECRET" not in body
        assert first.headers["Content-Security-Policy"]
        assert first.headers["X-Frame-Options"] == "DENY"
        second = http.get("/ops/aweber/", params={"after": "site00020.example"})
        assert "site00021.example" in second.text
        assert "site00020.example<" not in second.text
        stuck = http.get("/ops/aweber/", params={"state": "reauthorization_required", "q": "0010"})
        # 10, 100 and 105 need reauthorization; 101-104 and 106-109 are connected.
        assert stuck.text.count('<tr class="state-') == 3
        assert all(f"invalid_grant) #{i} <span" in stuck.text for i in (10, 100, 105))


def test_only_the_operator_hook_opens_it_and_bad_input_is_a_400(server: WebServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        denied = http.get("/ops/aweber/")
        assert denied.status_code == 403
        assert "site00001" not in denied.text
        bad = http.get("/ops/aweber/", params={"state": "<script>"}, headers={"X-Operator": "yes"})
        assert bad.status_code == 400
        assert "state must be one of" in bad.text
        assert "<script>" not in bad.text  # escaped
        post = http.post("/ops/aweber/", headers={"X-Operator": "yes"})
        assert post.status_code == 405  # it only reads


def test_without_a_hook_only_loopback_clients_are_served(helper: OAuthHelper) -> None:
    with WebServer(fleet_app(helper, clock=time.time)) as running, httpx.Client(base_url=running.url) as http:
        assert http.get("/").status_code == 200  # the test talks over loopback
        running.check_errors()
