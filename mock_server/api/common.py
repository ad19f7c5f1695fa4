"""What every API handler module shares: per-path method dispatch, error translation, paging.

Each handler authenticates (``http.begin``), calls the pure state and renders with ``views``;
the state's errors become AWeber's envelope here (400 ``WebServiceError``, 404
``NotFoundError``, 405 ``MethodNotAllowedError``). Methods a path does not support get the
envelope 405 with ``Allow``; unknown paths under /1.0 get the envelope 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mock_server.api.http import (
    MAX_BODY_BYTES,
    ApiError,
    Call,
    TokenError,
    begin,
    path_id,
    show_total,
    token_error_response,
)
from mock_server.api.model import (
    AlreadyOnList,
    BadRequest,
    DirectoryError,
    MailingList,
    NotAllowed,
    NotFound,
    parse_paging,
)
from mock_server.api.views import collection_json
from mock_server.mailings import SchedulingError
from mock_server.world import state_of

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_DIRECTORY_ERRORS: dict[type[DirectoryError], tuple[int, str]] = {
    AlreadyOnList: (405, "WebServiceError"),
    BadRequest: (400, "WebServiceError"),
    NotFound: (404, "NotFoundError"),
    NotAllowed: (405, "MethodNotAllowedError"),
}


class Resource:
    """One path's endpoint: dispatch by method and turn errors into AWeber's responses.

    ``methods`` stays readable so the route table's users (the OpenAPI test, the fuzz test)
    can tell the documented methods from the ones answered with 405.
    """

    def __init__(self, methods: Mapping[str, Handler]) -> None:
        self.methods = dict(methods)
        self.allowed = ", ".join([*self.methods, "HEAD"] if "GET" in self.methods else self.methods)

    async def dispatch(self, request: Request) -> Response:
        """The endpoint (a bound method, so Starlette passes it a Request)."""
        method = "GET" if request.method == "HEAD" else request.method
        handler = self.methods.get(method)
        if handler is None:
            return ApiError(
                405, "MethodNotAllowedError", "Method Not Allowed", {"Allow": self.allowed}
            ).response()
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except TokenError as exc:
            return token_error_response(state_of(request.scope).config, exc.description)
        except SchedulingError as exc:
            return ApiError(409, "BroadcastSchedulingError", exc.message).response()
        except DirectoryError as exc:
            status, error_type = _DIRECTORY_ERRORS.get(type(exc), (400, "WebServiceError"))
            return ApiError(status, error_type, exc.message).response()


async def list_call(
    request: Request, scope: str | tuple[str, ...] | None, *ops: str, max_body: int = MAX_BODY_BYTES
) -> ListCall:
    """Authenticate a request on ``.../lists/{list_id}/...`` and find the caller's list.

    ``ops`` are the ``ws.op`` values the operation takes (any other is a 400).
    """
    call = await begin(request, scope, max_body=max_body)
    op = call.operation(*ops)
    mailing_list = call.state.directory.mailing_list(call.account_id, path_id(request, "list_id", "list"))
    return ListCall(call, mailing_list, op, call.links.mailing_list(call.account_id, mailing_list.id))


@dataclass
class ListCall:
    """An authenticated call on one of the caller's lists; ``url`` is the list's self link."""

    call: Call
    mailing_list: MailingList
    op: str | None
    url: str

    @property
    def list_id(self) -> int:
        """The list's id."""
        return self.mailing_list.id


def page(call: Call, total: int) -> Any:
    """The ``ws.start``/``ws.size`` page of a collection of ``total`` entries."""
    return parse_paging(call.param("ws.start"), call.param("ws.size"), total)


def listing(
    call: Call,
    items: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    *,
    url: str,
    page_type: str,
    find: bool = False,
) -> Response:
    """A collection page of ``items`` (or, with ``ws.show=total_size``, their count).

    ``page_type`` names the page's ``resource_type_link`` (``list-page-resource``...); ``find``
    results carry ``total_size_link`` and a ``self_link`` with the query, as AWeber's do.
    """
    total = show_total(call, len(items))
    if total is not None:
        return total
    current = page(call, len(items))
    body = collection_json(
        [render(item) for item in current.take(items)],
        current,
        url=url,
        query=call.query(),
        resource_type_link=call.links.resource_type(page_type),
        find=find,
    )
    return JSONResponse(body)


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
