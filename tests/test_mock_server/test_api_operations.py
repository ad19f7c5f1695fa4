# ruff: noqa: E501 -- the tables read best one operation to a line
"""Acceptance 2: table-driven tests of every v1 operation of the inventory (../shared/aweber-api.md,
section 1) over real HTTP: success code and shape, the documented errors, paging edges, scopes.

Ids are the demo account's (mock_server.demo): list 1001 (custom fields 1-2, segments 5-6 with 6
a split-test segment, web forms 8-9, split test 11, landing pages 12 published and 13 not),
list 1002, integrations 14 (Facebook) and 15 (Twitter), broadcasts 3000001 (sent), 3000002
(scheduled), 3000003 (draft), followups 4000001-4000002.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mock_server import MockServer
from mock_server.catalog import landing_page_uuid
from tests.test_mock_server.test_api import get_token

SCOPES = (
    "account.read",
    "list.read",
    "list.write",
    "subscriber.read",
    "subscriber.write",
    "email.read",
    "email.write",
    "landing-page.read",
)
A = "/accounts/1"
L = f"{A}/lists/1001"
B = f"{L}/broadcasts"
LP_PUBLISHED, LP_DRAFT = landing_page_uuid(12), landing_page_uuid(13)
FORM = "application/x-www-form-urlencoded"

# (operation, method, path, request keywords, status, keys the JSON body must have, or a type)
SUCCESS: list[tuple[str, str, str, dict[str, Any], int, Any]] = [
    ("getAccounts", "GET", "/accounts", {}, 200, {"entries", "start", "total_size"}),
    ("getAccount", "GET", A, {}, 200, {"id", "lists_collection_link", "integrations_collection_link"}),
    ("findSubscribers", "GET", A, {"params": {"ws.op": "findSubscribers", "email": "subscriber001@example.com"}}, 200, {"entries", "total_size_link"}),
    ("getWebForms", "GET", A, {"params": {"ws.op": "getWebForms"}}, 200, list),
    ("getWebFormSplitTests", "GET", A, {"params": {"ws.op": "getWebFormSplitTests", "ws.start": "0", "ws.size": "10"}}, 200, list),
    ("getLists", "GET", f"{A}/lists", {}, 200, {"entries", "total_size"}),
    ("getList", "GET", L, {}, 200, {"total_subscribers", "draft_broadcasts_link"}),
    ("findLists", "GET", f"{A}/lists", {"params": {"ws.op": "find", "name": "Demo Customers"}}, 200, {"entries", "total_size_link"}),
    ("getTags", "GET", f"{L}/tags", {}, 200, list),
    ("getCustomFields", "GET", f"{L}/custom_fields", {}, 200, {"entries", "total_size"}),
    ("addCustomField", "POST", f"{L}/custom_fields", {"data": {"ws.op": "create", "name": "Shoe size"}}, 201, None),
    ("getCustomField", "GET", f"{L}/custom_fields/1", {}, 200, {"name", "is_subscriber_updateable", "http_etag"}),
    ("updateCustomField", "PATCH", f"{L}/custom_fields/2", {"json": {"name": "Tier"}}, 209, {"name"}),
    ("deleteCustomField", "DELETE", f"{L}/custom_fields/2", {}, 200, None),
    ("getSubscribers", "GET", f"{L}/subscribers", {"params": {"sort_order": "desc", "ws.size": "5"}}, 200, {"entries", "self_link"}),
    ("addSubscriber", "POST", f"{L}/subscribers", {"json": {"email": "new@example.com", "tags": ["a"]}}, 201, None),
    ("updateSubscriberByEmail", "PATCH", f"{L}/subscribers", {"params": {"subscriber_email": "subscriber002@example.com"}, "json": {"name": "Two"}}, 209, {"name"}),
    ("deleteSubscriberByEmail", "DELETE", f"{L}/subscribers", {"params": {"subscriber_email": "subscriber003@example.com"}}, 200, None),
    ("getSubscriber", "GET", f"{L}/subscribers/100004", {}, 200, {"uuid", "email"}),
    ("updateSubscriber", "PATCH", f"{L}/subscribers/100004", {"json": {"tags": {"add": ["x"]}}}, 209, {"tags"}),
    ("deleteSubscriber", "DELETE", f"{L}/subscribers/100005", {}, 200, None),
    ("moveSubscriber", "POST", f"{L}/subscribers/100006", {"data": {"ws.op": "move", "list_link": "http://x/1.0/accounts/1/lists/1002"}}, 201, None),
    ("findListSubscribers", "GET", f"{L}/subscribers", {"params": {"ws.op": "find", "tags": '["vip"]'}}, 200, {"entries", "total_size_link"}),
    ("getActivity", "GET", f"{L}/subscribers/100004", {"params": {"ws.op": "getActivity"}}, 200, {"entries", "total_size_link"}),
    ("addPurchase", "POST", f"{L}/purchases", {"json": {
        "email": "buyer@example.com", "ip_address": "8.8.8.8", "vendor": "shop", "product_name": "Mug",
        "event_note": "order 7", "currency": "USD", "value": 9.5, "event_time": "2026-11-30T10:00:00Z",
        "url": "https://shop.example/7",
    }}, 202, None),
    ("getBroadcasts", "GET", B, {"params": {"status": "sent"}}, 200, {"entries", "total_size_link", "self_link"}),
    ("createBroadcast", "POST", B, {"data": {"subject": "Hi", "body_text": "Hello"}}, 200, {"broadcast_id", "status"}),
    ("getBroadcast", "GET", f"{B}/3000001", {}, 200, {"stats", "opens_collection_link"}),
    ("updateBroadcast", "PUT", f"{B}/3000003", {"data": {"subject": "Changed"}}, 200, {"subject"}),
    ("deleteBroadcast", "DELETE", f"{B}/3000003", {}, 204, None),
    ("cancelBroadcast", "POST", f"{B}/3000002/cancel", {}, 200, {"self_link"}),
    ("scheduleBroadcast", "POST", f"{B}/3000003/schedule", {"data": {"scheduled_for": "2099-01-01T00:00:00Z"}}, 200, {"self_link"}),
    ("getBroadcastTotal", "GET", f"{B}/total", {"params": {"status": "draft"}}, 200, {"total_size"}),
    ("getBroadcastOpens", "GET", f"{B}/3000001/opens", {"params": {"page_size": "3"}}, 200, {"entries", "next_collection_link"}),
    ("getBroadcastClicks", "GET", f"{B}/3000001/clicks", {"params": {"detailed": "true"}}, 200, {"entries"}),
    ("getCampaigns", "GET", f"{L}/campaigns", {}, 200, {"entries", "total_size"}),
    ("getCampaign", "GET", f"{L}/campaigns/b3000001", {}, 200, {"campaign_type", "stats_collection_link"}),
    ("findCampaigns", "GET", f"{L}/campaigns", {"params": {"ws.op": "find", "campaign_type": "f"}}, 200, {"entries", "total_size_link"}),
    ("getCampaignStats", "GET", f"{L}/campaigns/b3000001/stats", {}, 200, {"entries", "total_size"}),
    ("getCampaignStat", "GET", f"{L}/campaigns/b3000001/stats/hourly_opens", {}, 200, {"id", "value"}),
    ("getIntegrations", "GET", f"{A}/integrations", {}, 200, {"entries", "total_size"}),
    ("getIntegration", "GET", f"{A}/integrations/14", {}, 200, {"service_name", "login"}),
    ("getLandingPages", "GET", f"{L}/landing_pages", {}, 200, {"entries", "total_size"}),
    ("getLandingPage", "GET", f"{L}/landing_pages/{LP_PUBLISHED}", {}, 200, {"content_html", "published_html"}),
    ("getSegments", "GET", f"{L}/segments", {}, 200, {"entries", "total_size"}),
    ("getSegment", "GET", f"{L}/segments/5", {}, 200, {"is_split_test"}),
    ("getListWebForms", "GET", f"{L}/web_forms", {}, 200, {"entries", "total_size"}),
    ("getWebForm", "GET", f"{L}/web_forms/8", {}, 200, {"type", "conversion_percentage"}),
    ("getSplitTests", "GET", f"{L}/web_form_split_tests", {}, 200, {"entries", "total_size"}),
    ("getSplitTest", "GET", f"{L}/web_form_split_tests/11", {}, 200, {"components_collection_link"}),
    ("getSplitTestComponents", "GET", f"{L}/web_form_split_tests/11/components", {}, 200, {"entries"}),
    ("getSplitTestComponent", "GET", f"{L}/web_form_split_tests/11/components/11-9", {}, 200, {"weight", "web_form_link"}),
]  # fmt: skip
# operation -> the scopes it needs (the inventory's, quirks included); every SUCCESS row has one.
NEEDS: dict[str, tuple[str, ...]] = {
    "getAccounts": ("account.read",), "getAccount": ("account.read",),
    "findSubscribers": ("subscriber.read",), "getWebForms": ("list.read",), "getWebFormSplitTests": ("list.read",),
    "getLists": ("list.read",), "getList": ("list.read",), "findLists": ("list.read",), "getTags": ("list.read",),
    "getCustomFields": ("list.read",), "addCustomField": ("list.write",), "getCustomField": ("list.read",),
    "updateCustomField": ("list.write",), "deleteCustomField": ("list.write",),
    "getSubscribers": ("subscriber.read",), "addSubscriber": ("subscriber.write",),
    "updateSubscriberByEmail": ("subscriber.write",), "deleteSubscriberByEmail": ("subscriber.write",),
    "getSubscriber": ("subscriber.read",), "updateSubscriber": ("subscriber.write",),
    "deleteSubscriber": ("subscriber.write",), "moveSubscriber": ("subscriber.write",),
    "findListSubscribers": ("subscriber.read",), "getActivity": ("subscriber.read",),
    "addPurchase": ("subscriber.read", "subscriber.write"),
    **dict.fromkeys(("getBroadcasts", "getBroadcast", "getBroadcastTotal", "getBroadcastOpens", "getBroadcastClicks"), ("email.read",)),
    **dict.fromkeys(("createBroadcast", "updateBroadcast", "deleteBroadcast", "cancelBroadcast", "scheduleBroadcast"), ("email.write",)),
    **dict.fromkeys(("getCampaigns", "getCampaign", "findCampaigns", "getCampaignStats", "getCampaignStat"), ("email.read",)),
    "getIntegrations": ("account.read",), "getIntegration": ("account.read",),
    "getLandingPages": ("landing-page.read",), "getLandingPage": ("list.read",),
    **dict.fromkeys(("getSegments", "getSegment", "getListWebForms", "getSplitTests", "getSplitTest"), ("list.read",)),
    "getSplitTestComponents": ("list.read",), "getSplitTestComponent": ("list.read",),
    "getWebForm": (),
}  # fmt: skip


def client(mock: MockServer, scopes: tuple[str, ...] = SCOPES) -> httpx.Client:
    token = get_token(mock, " ".join(scopes))
    return httpx.Client(base_url=mock.api_base, headers={"Authorization": f"Bearer {token}"})


def test_the_tables_cover_the_inventorys_52_operations() -> None:
    assert len(SUCCESS) == 52
    assert len({row[0] for row in SUCCESS}) == 52
    assert set(NEEDS) == {row[0] for row in SUCCESS}


@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs", "status", "shape"), SUCCESS, ids=[r[0] for r in SUCCESS]
)
def test_operation_succeeds_with_the_documented_code_and_shape(
    mock_aweber: MockServer,
    name: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    shape: Any,
) -> None:
    with client(mock_aweber) as api:
        response = api.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    if shape is None:
        if status in (201, 202):
            assert response.headers["location"].startswith(mock_aweber.api_base)
        else:
            assert response.content == b""
    elif isinstance(shape, type):
        assert isinstance(response.json(), shape)
    else:
        assert shape <= set(response.json()), set(response.json())


@pytest.mark.parametrize("name", [row[0] for row in SUCCESS if NEEDS[row[0]]])
def test_a_token_without_the_scope_gets_the_documented_403(mock_aweber: MockServer, name: str) -> None:
    _, method, path, kwargs, _, _ = next(row for row in SUCCESS if row[0] == name)
    missing = NEEDS[name][-1]
    with client(mock_aweber, tuple(scope for scope in SCOPES if scope != missing)) as api:
        response = api.request(method, path, **kwargs)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["type"] == "ForbiddenError"
    assert f'"{missing}"' in error["message"]


def test_the_single_web_form_needs_no_scope_but_a_valid_token(mock_aweber: MockServer) -> None:
    with client(mock_aweber, ("account.read",)) as api:
        assert api.get(f"{L}/web_forms/8").status_code == 200
        assert api.get(f"{L}/web_forms", params={}).status_code == 403
    assert httpx.get(f"{mock_aweber.api_base}{L}/web_forms/8").status_code == 401


# (method, path, request keywords, status, error type, text the message contains)
ERRORS: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    ("GET", f"{A}/lists", {"params": {"ws.size": "101"}}, 400, "WebServiceError", 'Maximum for "ws.size" parameter is 100.'),
    ("GET", f"{A}/lists", {"params": {"ws.size": "0"}}, 400, "WebServiceError", 'Minimum for "ws.size"'),
    ("GET", f"{A}/lists", {"params": {"ws.start": "-1"}}, 400, "WebServiceError", 'Minimum for "ws.start"'),
    ("GET", f"{A}/lists", {"params": {"ws.op": "nope"}}, 400, "WebServiceError", "No such operation"),
    ("GET", f"{L}/subscribers", {"params": {"ws.op": "find", "subscribed_after": "31/01/2024"}}, 400, "WebServiceError", "subscribed_after"),
    ("POST", f"{L}/subscribers", {"json": {"email": "not-an-address"}}, 400, "WebServiceError", "email: Invalid email address."),
    ("POST", f"{L}/subscribers", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "InvalidContentType", "Content Type"),
    ("POST", f"{L}/purchases", {"data": {"email": "a@example.com"}}, 415, "InvalidContentType", "application/json"),
    ("POST", f"{L}/purchases", {"json": {"email": "a@example.com"}}, 400, "WebServiceError", "Missing required argument"),
    ("POST", f"{L}/custom_fields", {"data": {"ws.op": "create", "name": "Plan"}}, 400, "WebServiceError", "already exists"),
    ("POST", f"{L}/subscribers", {"json": {"email": "s@example.com", "custom_fields": {"Shoe": "9"}, "strict_custom_fields": "true"}}, 400, "WebServiceError", "'Shoe' is not a custom field"),
    ("PATCH", f"{L}/subscribers/100001", {"json": {"custom_fields": {"Shoe": "9"}, "strict_custom_fields": True}}, 400, "WebServiceError", "strict_custom_fields"),
    ("POST", f"{L}/custom_fields", {"data": {"name": "Plan 2"}}, 400, "WebServiceError", "ws.op=create"),
    ("POST", f"{L}/subscribers/100001", {"data": {"list_link": "x"}}, 405, "MethodNotAllowedError", "ws.op=move"),
    ("POST", f"{L}/subscribers/100001", {"data": {"ws.op": "move", "list_link": "http://x/1.0/accounts/1/lists/1002"}}, 405, "WebServiceError", "Subscriber already belongs to this list."),
    ("GET", B, {}, 400, "MissingStatusError", "status"),
    ("GET", B, {"params": {"status": "queued"}}, 400, "InvalidBroadcastStatusError", "status"),
    ("POST", B, {"json": {"subject": "Hi", "body_text": "x"}}, 415, "InvalidContentType", "x-www-form-urlencoded"),
    ("POST", B, {"data": {"body_text": "x"}}, 400, "InvalidSubjectError", "subject"),
    ("POST", B, {"data": {"subject": "x" * 121, "body_text": "x"}}, 400, "InvalidSubjectError", "120"),
    ("POST", B, {"data": {"subject": "Hi"}}, 400, "MissingBodyError", "body_html or body_text"),
    ("POST", B, {"data": {"subject": "Hi", "body_text": "x", "include_lists": '["http://x/1.0/accounts/2/lists/9"]'}}, 400, "InvalidListURIError", "include_lists"),
    ("POST", B, {"data": {"subject": "Hi", "body_text": "x", "segment_link": "http://x/1.0/accounts/1/lists/1001/segments/77"}}, 400, "InvalidSegmentURIError", "segment_link"),
    ("POST", B, {"data": {"subject": "Hi", "body_text": "x", "segment_link": "http://x/1.0/accounts/1/lists/1001/segments/6"}}, 400, "SplitTestSegmentError", "split-test"),
    ("POST", B, {"data": {"subject": "Hi", "body_text": "x", "facebook_integration": "http://x/1.0/accounts/1/integrations/99"}}, 400, "InvalidIntegrationURIError", "facebook_integration"),
    ("POST", f"{B}/3000003/schedule", {"data": {}}, 400, "MissingDatetimeError", "scheduled_for"),
    ("POST", f"{B}/3000003/schedule", {"data": {"scheduled_for": "next tuesday"}}, 400, "InvalidDatetimeError", "ISO 8601"),
    ("POST", f"{B}/3000003/schedule", {"data": {"scheduled_for": "2001-01-01T00:00:00Z"}}, 400, "BroadcastDatetimeExpired", "future"),
    ("POST", f"{B}/3000001/schedule", {"data": {"scheduled_for": "2099-01-01T00:00:00Z"}}, 409, "BroadcastSchedulingError", "sent"),
    ("POST", f"{B}/3000002/schedule", {"data": {"scheduled_for": "2099-01-01T00:00:00Z"}}, 409, "BroadcastSchedulingError", "scheduled"),
    ("PUT", f"{B}/3000001", {"data": {"subject": "x"}}, 409, "BroadcastSchedulingError", "Only drafts"),
    ("DELETE", f"{B}/3000002", {}, 409, "BroadcastSchedulingError", "Only drafts"),
    ("GET", f"{B}/3000001/opens", {"params": {"before": "a", "after": "b"}}, 400, "WebServiceError", "cannot be combined"),
    ("GET", f"{B}/3000001/opens", {"params": {"after": "bm90IGEgY3Vyc29y"}}, 400, "WebServiceError", "cursor"),
    ("GET", f"{B}/3000001/clicks", {"params": {"page_size": "101"}}, 400, "WebServiceError", "100"),
    ("GET", f"{L}/campaigns", {"params": {"ws.op": "find"}}, 400, "WebServiceError", "campaign_type"),
    ("GET", f"{L}/campaigns/x12", {}, 404, "NotFoundError", "x12"),
    ("GET", f"{L}/campaigns/f4000001/stats", {}, 404, "NotFoundError", "broadcast campaigns"),
    ("GET", f"{L}/campaigns/b3000001/stats/nope", {}, 404, "NotFoundError", "nope"),
    ("GET", f"{L}/campaigns/b3000002", {}, 404, "NotFoundError", "Campaign"),
    ("GET", f"{A}/lists/1002/segments/5", {}, 404, "NotFoundError", "5"),
    ("GET", f"{A}/lists/9999/custom_fields", {}, 404, "NotFoundError", "List"),
    ("GET", f"{L}/landing_pages/{LP_DRAFT}x", {}, 404, "NotFoundError", ""),
    ("GET", f"{L}/web_form_split_tests/11/components/11-10", {}, 404, "NotFoundError", "11-10"),
    ("GET", f"{A}/integrations/5", {}, 404, "NotFoundError", "5"),
    ("PATCH", f"{B}/3000003", {"data": {"subject": "x"}}, 405, "MethodNotAllowedError", "Method Not Allowed"),
    ("GET", "/accounts/2", {}, 401, "UnauthorizedError", "Invalid Account"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "kind", "text"), ERRORS)
def test_documented_error(
    mock_aweber: MockServer, method: str, path: str, kwargs: dict[str, Any], status: int, kind: str, text: str
) -> None:
    with client(mock_aweber) as api:
        response = api.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["status"], error["type"]) == (status, kind)
    assert text in error["message"]


def test_a_26th_custom_field_is_a_405(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        for number in range(23):  # the demo list has two already
            created = api.post(f"{L}/custom_fields", json={"ws.op": "create", "name": f"Field {number}"})
            assert created.status_code == 201, created.text
        response = api.post(f"{L}/custom_fields", data={"ws.op": "create", "name": "One too many"})
        assert response.status_code == 405
        assert response.json()["error"]["message"] == "You may only have 25 CustomFields"
        assert api.get(f"{L}/custom_fields").json()["total_size"] == 25


def test_custom_field_changes_reach_the_subscribers_values(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        assert api.get(f"{L}/subscribers/100001").json()["custom_fields"]["Plan"] == "pro"
        assert api.patch(f"{L}/custom_fields/2", data={"name": "Tier"}).status_code == 209
        assert api.get(f"{L}/subscribers/100001").json()["custom_fields"]["Tier"] == "pro"
        assert api.delete(f"{L}/custom_fields/2").status_code == 200
        assert "Tier" not in api.get(f"{L}/subscribers/100001").json()["custom_fields"]
        assert api.get(f"{L}/custom_fields/2").status_code == 404


def test_a_missing_broadcast_deletes_with_204_and_cancel_of_a_draft_is_200(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        assert api.delete(f"{B}/3999999").status_code == 204
        assert api.post(f"{B}/3000003/cancel").json() == {"self_link": f"{mock_aweber.api_base}{B}/3000003"}
        assert api.get(f"{B}/3000003").json()["status"] == "draft"


@pytest.mark.parametrize(("start", "size", "count", "has_prev", "has_next"), [
    (0, 100, 2, False, False), (0, 1, 1, False, True), (1, 1, 1, True, False), (2, 1, 0, True, False),
])  # fmt: skip
def test_paging_edges_of_a_collection(
    mock_aweber: MockServer, start: int, size: int, count: int, has_prev: bool, has_next: bool
) -> None:
    with client(mock_aweber) as api:
        body = api.get(f"{L}/segments", params={"ws.start": start, "ws.size": size}).json()
    assert (len(body["entries"]), body["total_size"], body["start"]) == (count, 2, start)
    assert ("prev_collection_link" in body, "next_collection_link" in body) == (has_prev, has_next)


def test_total_size_of_finds_and_broadcasts(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        found = api.get(f"{L}/campaigns", params={"ws.op": "find", "campaign_type": "f"}).json()
        assert httpx.get(found["total_size_link"], headers=api.headers).json() == 2
        drafts = api.get(B, params={"status": "draft"}).json()
        assert drafts["total_size_link"] == f"{mock_aweber.api_base}{B}/total?status=draft"
        assert api.get(drafts["total_size_link"]).json() == {"total_size": 1}
        assert (
            api.get(A, params={"ws.op": "findSubscribers", "ws.show": "total_size", "tags": '["vip"]'}).json()
            == 25
        )


def walk(api: httpx.Client, url: str, link: str = "next_collection_link") -> tuple[list[Any], dict[str, Any]]:
    """Every entry of a collection, following ``link`` from ``url``; also the last page."""
    entries: list[Any] = []
    page: dict[str, Any] = {}
    while url:
        page = api.get(url).json()
        assert "start" not in page  # cursor pages have no offsets
        entries = entries + page["entries"] if link == "next_collection_link" else page["entries"] + entries
        url = page.get(link, "")
    return entries, page


def test_cursor_paging_walks_every_open_once_both_ways(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        unique_opens = api.get(f"{B}/3000001").json()["stats"]["unique_opens"]
        assert unique_opens > 100  # more than one page of the default size
        forward, last = walk(api, f"{B}/3000001/opens?page_size=7")
        backward, _ = walk(api, last["prev_collection_link"], "prev_collection_link")
    assert len(forward) == unique_opens
    assert len({entry["email"] for entry in forward}) == unique_opens
    times = [entry["event_time"] for entry in forward]
    assert times == sorted(times, reverse=True)  # newest first
    assert backward + last["entries"] == forward


def test_aggregated_clicks_count_each_subscribers_detailed_clicks(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        summary, _ = walk(api, f"{B}/3000001/clicks")
        detailed, _ = walk(api, f"{B}/3000001/clicks?detailed=true")
        total = api.get(f"{L}/campaigns/b3000001/stats/total_clicks").json()["value"]
    assert summary
    assert sum(entry["total_clicks"] for entry in summary) == len(detailed) == total
    assert {entry["email"] for entry in summary} == {entry["email"] for entry in detailed}
    assert all({"clicked_at", "url"} <= set(entry) for entry in detailed)


def test_the_rate_limit_counts_a_purchase_three_times(mock_aweber: MockServer) -> None:
    purchase = dict(SUCCESS[24][3]["json"])
    with client(mock_aweber) as api:
        for _ in range(40):  # 120 calls
            assert api.post(f"{L}/purchases", json=purchase).status_code == 202
        assert api.post(f"{L}/purchases", json=purchase).status_code == 403  # 120 + 3 > 120 a minute
        limited = api.get(f"{L}/segments")
    assert limited.status_code == 403
    assert limited.json()["error"] == {
        **limited.json()["error"],
        "type": "ForbiddenError",
        "message": "Rate Limit Error",
    }
    mock_aweber.advance_clock(61)
    with client(mock_aweber) as api:
        assert api.get(f"{L}/segments").status_code == 200


def test_a_purchase_appears_in_the_subscribers_activity(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        response = api.post(f"{L}/purchases", json=SUCCESS[24][3]["json"])
        activity = api.get(response.headers["location"]).json()["entries"]
        found = api.get(L + "/subscribers", params={"ws.op": "find", "email": "buyer@example.com"}).json()
    assert [entry["type"] for entry in activity] == ["subscribed", "tracked_event"]
    assert activity[-1]["event_time"].startswith("2026-11-30T10:00:00")
    assert found["entries"][0]["email"] == "buyer@example.com"


def test_tags_are_ranked_by_use(mock_aweber: MockServer) -> None:
    with client(mock_aweber) as api:
        assert api.get(f"{L}/tags").json() == ["demo", "vip"]
        assert api.get(f"{A}/lists/1002/tags").json() == ["customer"]


def test_strict_custom_fields_accept_the_lists_own_fields(mock_aweber: MockServer) -> None:
    body = {"email": "strict@example.com", "custom_fields": {"Plan": "basic"}, "strict_custom_fields": True}
    with client(mock_aweber) as api:
        created = api.post(f"{L}/subscribers", json=body)
        assert created.status_code == 201, created.text
        assert api.get(created.headers["location"]).json()["custom_fields"] == {"Plan": "basic"}
