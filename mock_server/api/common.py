"""What every API handler module shares: per-path method dispatch, error translation, paging.

Each handler authenticates (``http.begin``), calls the pure state and renders with ``views``;
the state's errors become AWeber's envelope here (400 ``WebServiceError``, 404
``NotFoundError``, 405 ``MethodNotAllowedError``). Methods a path does not support get the
envelope 405 with ``Allow``; unknown paths under /1.0 get the envelope 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mock_server.api.http import ApiError, Call, TokenError, token_error_response
from mock_server.api.model import (
    AlreadyOnList,
    BadRequest,
    DirectoryError,
    NotAllowed,
    NotFound,
    parse_paging,
)

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
            return token_error_response(request.app.state.mock.config, exc.description)
        except DirectoryError as exc:
            status, error_type = _DIRECTORY_ERRORS.get(type(exc), (400, "WebServiceError"))
            return ApiError(status, error_type, exc.message).response()


def page(call: Call, total: int) -> Any:
    """The ``ws.start``/``ws.size`` page of a collection of ``total`` entries."""
    return parse_paging(call.param("ws.start"), call.param("ws.size"), total)


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
