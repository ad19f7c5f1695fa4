"""What the pages do after each action, over real HTTP: post/redirect/get with a signed flash,
the disconnect confirmation, the footer and the favicon.

The browser side of the same behaviour (reload without a resubmit prompt, no console errors)
is in ``tests/e2e/test_web_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from test_web_bad_input import Site, Web, approve, assert_refused, connect, running_web

from mock_server.runner import MockServer
from oob_helper.providers import AWEBER
from oob_helper.web.csrf import FLASH_MAX_AGE


@pytest.fixture
def web(mock_aweber: MockServer) -> Iterator[Web]:
    mock_aweber.set_clock(1_900_000_000.0, frozen=True)
    with running_web(AWEBER.with_bases(mock_aweber.url, mock_aweber.api_base)) as running:
        yield running


def no_follow(site: Site, path: str, data: dict[str, str]) -> httpx.Response:
    return site.http.post(path, data=data, follow_redirects=False)


def test_each_action_redirects_to_the_status_page_and_says_once_what_it_did(
    web: Web, mock_aweber: MockServer
) -> None:
    form = web.a.form()
    code = approve(mock_aweber, form)
    done = no_follow(web.a, "/code", {"csrf_token": form.csrf, "attempt": form.attempt or "", "code": code})
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    assert "Demo" not in done.headers["location"]  # nothing about the outcome in the address
    shown = web.a.get("/")
    assert "Connected to Demo Company." in shown.text
    again = web.a.get("/")  # a reload: the status, without repeating the notice
    assert "Connected" in again.text
    assert "Connected to Demo Company." not in again.text

    form = web.a.form()
    refreshed = no_follow(web.a, "/refresh", {"csrf_token": form.csrf})
    assert (refreshed.status_code, refreshed.headers["location"]) == (303, "/")
    assert "The access token was refreshed." in web.a.get("/").text

    form = web.a.form()
    gone = no_follow(web.a, "/disconnect", {"csrf_token": form.csrf})
    assert (gone.status_code, gone.headers["location"]) == (303, "/")
    page = web.a.get("/")
    assert "Disconnected. The token was revoked and forgotten." in page.text
    assert "Not connected" in page.text
    assert web.snapshot() == []


def test_a_flash_from_another_browser_or_too_old_is_ignored(web: Web, mock_aweber: MockServer) -> None:
    connect(web, mock_aweber, web.a)
    form = web.a.form()
    refreshed = no_follow(web.a, "/refresh", {"csrf_token": form.csrf})
    flash = refreshed.cookies["oob_helper_session_flash"]
    web.b.form()  # site B's browser gets its own session
    web.b.http.cookies.set("oob_helper_session_flash", flash)
    assert "refreshed" not in web.b.get("/").text
    web.a.http.cookies.set("oob_helper_session_flash", flash)
    web.clock.advance(FLASH_MAX_AGE + 1)
    assert "refreshed" not in web.a.get("/").text


def test_disconnect_asks_first_and_changes_nothing_until_confirmed(web: Web, mock_aweber: MockServer) -> None:
    connect(web, mock_aweber, web.a)
    before = web.snapshot()
    status = web.a.get("/")
    # Its Disconnect button only asks (a GET, no CSRF token): the POST form is on the question.
    assert '<form method="get" action="/disconnect">' in status.text
    assert '<form method="post" action="/disconnect">' not in status.text
    question = web.a.get("/disconnect")
    assert question.status_code == 200
    assert "Disconnect this site from AWeber?" in question.text
    assert "Demo Company" in question.text
    assert "Yes, disconnect" in question.text
    assert web.snapshot() == before
    csrf = web.a.form("/disconnect").csrf
    web.a.post("/disconnect", {"csrf_token": csrf})
    assert web.snapshot() == []


def test_disconnect_question_for_a_site_not_connected(web: Web) -> None:
    assert_refused(web.a.get("/disconnect"), 409, "not connected")


def test_the_back_link_is_on_every_page_but_the_status_page(web: Web) -> None:
    back = "Back to the status page"
    assert back not in web.a.get("/").text
    assert back in web.a.get("/connect").text
    assert back in web.a.get("/no-such-page").text


def test_favicon(web: Web) -> None:
    for path in ("/favicon.ico", "/static/favicon.ico"):
        icon = web.a.get(path)
        assert icon.status_code == 200, path
        assert icon.headers["content-type"] == "image/vnd.microsoft.icon"
        assert icon.content.startswith(b"\x00\x00\x01\x00")  # an ICO header


def test_refresh_now_is_a_person_acting_so_the_back_off_does_not_hold_it(
    web: Web, mock_aweber: MockServer
) -> None:
    """After a permanent failure automatic refreshes are held (oob_helper/backoff.py); the
    page's "Refresh now" is a person's request for this install, so it is sent."""
    connect(web, mock_aweber, web.a)
    install = web.a.host
    mock_aweber.add_fault("/oauth2/token", status=401, body={"error": "invalid_client"}, count=1)
    form = web.a.form()
    failed = no_follow(web.a, "/refresh", {"csrf_token": form.csrf})
    assert failed.status_code == 502
    assert "invalid_client" in failed.text
    assert web.helper.refresh(install).result == "backed_off"  # as `refresh --all` would
    since = max(int(e["id"]) for e in mock_aweber.events())
    form = web.a.form()
    refreshed = no_follow(web.a, "/refresh", {"csrf_token": form.csrf})
    assert (refreshed.status_code, refreshed.headers["location"]) == (303, "/")
    assert "The access token was refreshed." in web.a.get("/").text
    assert [e["path"] for e in mock_aweber.events(since) if e["method"] == "POST"].count("/oauth2/token") == 1
