"""Accounts: ``GET /1.0/accounts``, one account, and the account-wide ``ws.op`` finds."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api import web_forms
from mock_server.api.common import listing
from mock_server.api.http import begin
from mock_server.api.views import account_json, subscriber_json

# ws.op on an account -> the scope it needs.
_ACCOUNT_OPS = {
    "findSubscribers": "subscriber.read",
    "getWebForms": "list.read",
    "getWebFormSplitTests": "list.read",
}


async def get_accounts(request: Request) -> Response:
    """GET /1.0/accounts: the single account the token was issued for."""
    call = await begin(request, "account.read", account_param=None)
    call.operation()
    entries = [call.state.directory.account(call.account_id)]
    return listing(
        call,
        entries,
        lambda item: account_json(item, call.links),
        url=call.links.accounts(),
        page_type="account",
    )


async def get_account(request: Request) -> Response:
    """GET /1.0/accounts/{id}, or one of its ``ws.op`` operations across all its lists."""
    op = request.query_params.get("ws.op") or None
    call = await begin(request, _ACCOUNT_OPS.get(op or "", "account.read"))
    call.operation(*_ACCOUNT_OPS)
    directory = call.state.directory
    if op == "getWebForms":
        return web_forms.account_web_forms(call)
    if op == "getWebFormSplitTests":
        return web_forms.account_split_tests(call)
    if op is None:
        return JSONResponse(account_json(directory.account(call.account_id), call.links))
    found = directory.find_subscribers(call.account_id, None, call.filters())
    lists = {item.id: item for item in directory.lists(call.account_id)}
    return listing(
        call,
        found,
        lambda sub: subscriber_json(sub, call.account_id, call.links, mailing_list=lists.get(sub.list_id)),
        url=call.links.account(call.account_id),
        page_type="subscriber-page-resource",
        find=True,
    )
