"""Accounts: ``GET /1.0/accounts``, one account, and the account-wide ``ws.op`` finds."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.common import page
from mock_server.api.http import begin, show_total
from mock_server.api.views import account_json, collection_json, subscriber_json


async def get_accounts(request: Request) -> Response:
    """GET /1.0/accounts: the single account the token was issued for."""
    call = await begin(request, "account.read", account_param=None)
    call.operation()
    entries = [account_json(call.state.directory.account(call.account_id), call.links)]
    total = show_total(call, len(entries))
    if total is not None:
        return total
    current = page(call, len(entries))
    body = collection_json(
        current.take(entries),
        current,
        url=call.links.accounts(),
        query=call.query(),
        resource_type_link=call.links.resource_type("accounts"),
    )
    return JSONResponse(body)


async def get_account(request: Request) -> Response:
    """GET /1.0/accounts/{id}, or ``ws.op=findSubscribers`` across all its lists."""
    op = request.query_params.get("ws.op") or None
    call = await begin(request, "subscriber.read" if op == "findSubscribers" else "account.read")
    call.operation("findSubscribers")
    directory = call.state.directory
    if op is None:
        return JSONResponse(account_json(directory.account(call.account_id), call.links))
    found = directory.find_subscribers(call.account_id, None, call.filters())
    total = show_total(call, len(found))
    if total is not None:
        return total
    current = page(call, len(found))
    lists = {item.id: item for item in directory.lists(call.account_id)}
    entries = [
        subscriber_json(sub, call.account_id, call.links, mailing_list=lists.get(sub.list_id))
        for sub in current.take(found)
    ]
    body = collection_json(
        entries,
        current,
        url=call.links.account(call.account_id),
        query=call.query(),
        resource_type_link=call.links.resource_type("subscriber-page-resource"),
        find=True,
    )
    return JSONResponse(body)
