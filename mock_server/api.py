"""Handlers for the REST API slice under /1.0 (and GET /v3/account/summary in the CC profile).

Each handler authenticates (``api_http.begin``), calls the directory and renders with
``api_views``; directory errors become AWeber's envelope (400 ``WebServiceError``, 404
``NotFoundError``, 405 ``MethodNotAllowedError``). Methods a path does not support get the
envelope 405 with ``Allow``; unknown paths under /1.0 get the envelope 404. The ``ws.op``
operations are those of AWeber's sample scripts: ``find`` on lists and on a list's
subscribers, ``findSubscribers`` on an account, ``getActivity`` on a subscriber, and also
``move`` (POST on a subscriber with ``list_link``), which AWeber's ``manage-subscriber`` sample
calls.

Statuses follow providers.md A11.2: add subscriber 201 with ``Location`` and no body, update
209 with the updated subscriber, delete 200 with no body (405 for a subscriber that is not
``subscribed``). Update and delete by e-mail act on the collection URL with ``subscriber_email``
(declared by AWeber) or ``email`` (used by AWeber's own code samples).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mock_server.api_http import ApiError, Call, TokenError, begin, path_id, show_total, token_error_response
from mock_server.api_model import (
    AlreadyOnList,
    BadRequest,
    DirectoryError,
    NotAllowed,
    NotFound,
    Subscriber,
    parse_paging,
)
from mock_server.api_views import (
    account_json,
    activity_json,
    collection_json,
    list_json,
    subscriber_json,
)
from mock_server.config import MockConfig
from mock_server.state import InvalidToken, MockState

Handler = Callable[[Request], Awaitable[Response]]
_LIST_LINK = re.compile(r"/1\.0/accounts/(?P<account>\d{1,18})/lists/(?P<list>\d{1,18})/?$")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_DIRECTORY_ERRORS: dict[type[DirectoryError], tuple[int, str]] = {
    AlreadyOnList: (405, "WebServiceError"),
    BadRequest: (400, "WebServiceError"),
    NotFound: (404, "NotFoundError"),
    NotAllowed: (405, "MethodNotAllowedError"),
}


def _resource(methods: dict[str, Handler]) -> Handler:
    """One path's endpoint: dispatch by method and turn errors into AWeber's responses."""
    allowed = ", ".join([*methods, "HEAD"] if "GET" in methods else methods)

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = methods.get(method)
        if handler is None:
            return ApiError(405, "MethodNotAllowedError", "Method Not Allowed", {"Allow": allowed}).response()
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except TokenError as exc:
            return token_error_response(request.app.state.mock.config, exc.description)
        except DirectoryError as exc:
            status, error_type = _DIRECTORY_ERRORS.get(type(exc), (400, "WebServiceError"))
            return ApiError(status, error_type, exc.message).response()

    return endpoint


def _page(call: Call, total: int) -> Any:
    return parse_paging(call.param("ws.start"), call.param("ws.size"), total)


# -- accounts -------------------------------------------------------------------------------


async def get_accounts(request: Request) -> Response:
    """GET /1.0/accounts: the single account the token was issued for."""
    call = await begin(request, "account.read", account_param=None)
    call.operation()
    entries = [account_json(call.state.directory.account(call.account_id), call.links)]
    total = show_total(call, len(entries))
    if total is not None:
        return total
    page = _page(call, len(entries))
    body = collection_json(
        page.take(entries),
        page,
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
    page = _page(call, len(found))
    lists = {item.id: item for item in directory.lists(call.account_id)}
    entries = [
        subscriber_json(sub, call.account_id, call.links, mailing_list=lists.get(sub.list_id))
        for sub in page.take(found)
    ]
    body = collection_json(
        entries,
        page,
        url=call.links.account(call.account_id),
        query=call.query(),
        resource_type_link=call.links.resource_type("subscriber-page-resource"),
        find=True,
    )
    return JSONResponse(body)


# -- lists ----------------------------------------------------------------------------------


async def get_lists(request: Request) -> Response:
    """GET /1.0/accounts/{id}/lists, or ``ws.op=find&name=...``."""
    call = await begin(request, "list.read")
    op = call.operation("find")
    directory = call.state.directory
    lists = (
        directory.find_lists(call.account_id, call.param("name")) if op else directory.lists(call.account_id)
    )
    total = show_total(call, len(lists))
    if total is not None:
        return total
    page = _page(call, len(lists))
    entries = [list_json(item, directory.list_counts(item), call.links) for item in page.take(lists)]
    body = collection_json(
        entries,
        page,
        url=call.links.lists(call.account_id),
        query=call.query(),
        resource_type_link=call.links.resource_type("list-page-resource"),
        find=op is not None,
    )
    return JSONResponse(body)


async def get_list(request: Request) -> Response:
    """GET /1.0/accounts/{id}/lists/{list_id}."""
    call = await begin(request, "list.read")
    call.operation()
    directory = call.state.directory
    item = directory.mailing_list(call.account_id, path_id(request, "list_id", "list"))
    return JSONResponse(list_json(item, directory.list_counts(item), call.links))


# -- subscribers ----------------------------------------------------------------------------


async def get_subscribers(request: Request) -> Response:
    """GET a list's subscribers (oldest first, ``sort_order``), or ``ws.op=find``."""
    call = await begin(request, "subscriber.read")
    op = call.operation("find")
    list_id = path_id(request, "list_id", "list")
    directory = call.state.directory
    if op:
        subs = directory.find_subscribers(call.account_id, list_id, call.filters())
    else:
        subs = directory.subscribers(call.account_id, list_id, call.param("sort_order"))
    total = show_total(call, len(subs))
    if total is not None:
        return total
    page = _page(call, len(subs))
    entries = [subscriber_json(sub, call.account_id, call.links) for sub in page.take(subs)]
    body = collection_json(
        entries,
        page,
        url=call.links.subscribers(call.account_id, list_id),
        query=call.query(),
        resource_type_link=call.links.resource_type("subscriber-page-resource"),
        find=op is not None,
    )
    return JSONResponse(body)


async def add_subscriber(request: Request) -> Response:
    """POST a subscriber (JSON or form): 201 with ``Location`` and no body."""
    call = await begin(request, "subscriber.write")
    call.operation("create")
    list_id = path_id(request, "list_id", "list")
    fields = call.require_body()
    subscriber, _ = call.state.directory.add_subscriber(call.account_id, list_id, fields)
    location = call.links.subscriber(call.account_id, list_id, subscriber.id)
    return Response(status_code=201, headers={"Location": location})


def _by_email(call: Call, list_id: int) -> Subscriber:
    email = call.request.query_params.get("subscriber_email") or call.request.query_params.get("email")
    return call.state.directory.subscriber_by_email(call.account_id, list_id, email)


async def patch_subscribers(request: Request) -> Response:
    """PATCH .../subscribers?subscriber_email=... (or ``email=``): 209 with the subscriber."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    fields = call.require_body()
    target = _by_email(call, list_id)
    return _updated(call, list_id, target.id, fields)


async def delete_subscribers(request: Request) -> Response:
    """DELETE .../subscribers?subscriber_email=... (or ``email=``): 200."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    target = _by_email(call, list_id)
    call.state.directory.delete_subscriber(call.account_id, list_id, target.id)
    return Response(status_code=200)


async def get_subscriber(request: Request) -> Response:
    """GET one subscriber, or ``ws.op=getActivity``."""
    call = await begin(request, "subscriber.read")
    op = call.operation("getActivity")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    directory = call.state.directory
    subscriber = directory.subscriber(call.account_id, list_id, subscriber_id)
    self_link = call.links.subscriber(call.account_id, list_id, subscriber_id)
    if op is None:
        return JSONResponse(subscriber_json(subscriber, call.account_id, call.links, single=True))
    history = directory.activity(call.account_id, list_id, subscriber_id)
    total = show_total(call, len(history))
    if total is not None:
        return total
    page = _page(call, len(history))
    body = collection_json(
        [activity_json(item, self_link, call.links) for item in page.take(history)],
        page,
        url=self_link,
        query=call.query(),
        resource_type_link=call.links.resource_type("activity-page-resource"),
        find=True,
    )
    return JSONResponse(body)


async def patch_subscriber(request: Request) -> Response:
    """PATCH one subscriber: 209 (ContentModified) with the updated subscriber."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    return _updated(call, list_id, subscriber_id, call.require_body())


def _updated(call: Call, list_id: int, subscriber_id: int, fields: dict[str, Any]) -> Response:
    subscriber = call.state.directory.update_subscriber(call.account_id, list_id, subscriber_id, fields)
    return JSONResponse(
        subscriber_json(subscriber, call.account_id, call.links, single=True), status_code=209
    )


async def delete_subscriber(request: Request) -> Response:
    """DELETE one subscriber: 200, or 405 when it is not subscribed."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    call.state.directory.delete_subscriber(call.account_id, list_id, subscriber_id)
    return Response(status_code=200)


async def move_subscriber(request: Request) -> Response:
    """POST ``ws.op=move`` with ``list_link``: 201 with the subscriber's new ``Location``."""
    call = await begin(request, "subscriber.write")
    list_id = path_id(request, "list_id", "list")
    subscriber_id = path_id(request, "subscriber_id", "subscriber")
    fields = call.require_body()
    if call.operation("move") is None:
        raise ApiError(405, "MethodNotAllowedError", "Send ws.op=move with list_link to move a subscriber.")
    link = fields.get("list_link")
    match = _LIST_LINK.search(link) if isinstance(link, str) else None
    if match is None:
        raise BadRequest("list_link: Expected the self_link of a list, e.g. <base>/1.0/accounts/1/lists/2.")
    if int(match["account"]) != call.account_id:
        raise NotFound("List with given id not found")
    moved = call.state.directory.move_subscriber(
        call.account_id,
        list_id,
        subscriber_id,
        int(match["list"]),
        fields.get("last_followup_message_number_sent"),
    )
    location = call.links.subscriber(call.account_id, moved.list_id, moved.id)
    return Response(status_code=201, headers={"Location": location})


async def unknown_path(request: Request) -> Response:
    """Anything else under /1.0: AWeber's 404 envelope (a trailing slash redirects without it)."""
    path = request.url.path
    if path.endswith("/") and len(path) > len("/1.0/"):
        # This catch-all would otherwise shadow Starlette's own trailing-slash redirect.
        target = request.url.replace(path=path.rstrip("/"))
        return RedirectResponse(str(target), status_code=307)
    return ApiError(
        404, "NotFoundError", f"Object: None, name: {request.url.path.rsplit('/', 1)[-1]!r}"
    ).response()


# -- Constant Contact -----------------------------------------------------------------------


def _cc_error(status: int, key: str, message: str, headers: dict[str, str] | None = None) -> Response:
    # Constant Contact's V3 errors are an array of {error_key, error_message} (providers.md B7).
    return JSONResponse([{"error_key": key, "error_message": message}], status_code=status, headers=headers)


async def cc_account_summary(request: Request) -> Response:
    """GET /v3/account/summary: the token's account as Constant Contact describes it."""
    if request.method not in ("GET", "HEAD"):
        return _cc_error(405, "method_not_allowed", "Method not allowed.", {"Allow": "GET, HEAD"})
    state: MockState = request.app.state.mock
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    try:
        grant = state.authenticate(token)
    except InvalidToken:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return _cc_error(401, "unauthorized", "The access token used is invalid.", headers)
    if "account_read" not in grant.scopes:
        return _cc_error(403, "forbidden", "The access token lacks the account_read scope.")
    try:
        account = state.directory.account(grant.account_id)
    except NotFound:
        return _cc_error(404, "account.api.not_found", "Account not found.")
    return JSONResponse(
        {
            "encoded_account_id": f"a{account.uuid.replace('-', '')[:12]}",
            "organization_name": account.company,
            "contact_email": f"{account.username}@example.com",
            "first_name": account.username,
            "last_name": "",
            "country_code": "US",
            "state_code": "PA",
            "time_zone_id": "US/Eastern",
        }
    )


async def cc_unknown_path(request: Request) -> Response:
    """Anything else under /v3: Constant Contact's 404 array."""
    return _cc_error(404, "not_found", "The requested resource was not found.")


def routes(config: MockConfig) -> list[BaseRoute]:
    """The API slice's routes for the configured profile."""
    base = "/1.0/accounts"
    table: list[BaseRoute] = [
        Route(base, _resource({"GET": get_accounts}), methods=ALL_METHODS),
        Route(f"{base}/{{account_id}}", _resource({"GET": get_account}), methods=ALL_METHODS),
        Route(f"{base}/{{account_id}}/lists", _resource({"GET": get_lists}), methods=ALL_METHODS),
        Route(f"{base}/{{account_id}}/lists/{{list_id}}", _resource({"GET": get_list}), methods=ALL_METHODS),
        Route(
            f"{base}/{{account_id}}/lists/{{list_id}}/subscribers",
            _resource(
                {
                    "GET": get_subscribers,
                    "POST": add_subscriber,
                    "PATCH": patch_subscribers,
                    "DELETE": delete_subscribers,
                }
            ),
            methods=ALL_METHODS,
        ),
        Route(
            f"{base}/{{account_id}}/lists/{{list_id}}/subscribers/{{subscriber_id}}",
            _resource(
                {
                    "GET": get_subscriber,
                    "POST": move_subscriber,
                    "PATCH": patch_subscriber,
                    "DELETE": delete_subscriber,
                }
            ),
            methods=ALL_METHODS,
        ),
        Route("/1.0/{rest:path}", unknown_path, methods=ALL_METHODS),
    ]
    if config.profile == "constantcontact":
        table += [
            Route("/v3/account/summary", cc_account_summary, methods=ALL_METHODS),
            Route("/v3/{rest:path}", cc_unknown_path, methods=ALL_METHODS),
        ]
    return table
