"""The control plane under ``/_mock/``: the JSON control API of interface.md and the dashboard.

Every answer is JSON; a body that cannot be used gets 400 with
``{"error": "invalid_request", "error_description": <what is wrong and how to fix it>}``.

No web page can drive these calls (``mock_server.origins``): a browser request from another
origin (``Origin`` not the mock's own, or ``Sec-Fetch-Site`` cross-site or same-site) gets 403,
and a body sent without ``Content-Type: application/json`` gets 415, so neither a form nor a
``no-cors`` fetch gets through, and a JSON fetch from a page needs a CORS preflight the mock
never grants. When a control token is set, every JSON call needs ``Authorization: Bearer
<token>`` (compared in constant time; 401 otherwise). The dashboard (``control_dashboard``)
also accepts a session cookie set by its login form, since a browser cannot send the header.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.events import select
from mock_server.faults import FaultSpecError
from mock_server.origins import cross_site
from mock_server.world import state_of

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_BODY = 64 * 1024
_FILTERS = ("client_id", "username", "access_token", "grant")
_REVOKE_FILTERS = (*_FILTERS, "refresh_token")
_LIFETIME_FILTERS = ("client_id", "username", "refresh_token", "grant")
# GET /_mock/events query parameters: the string filters, then the mock-time bounds.
_EVENT_TEXT_FILTERS = ("client_id", "grant_type", "result", "reason", "path")
_EVENT_TIME_FILTERS = {"from": "start", "until": "end"}


class BadRequest(Exception):
    """A control call whose body cannot be used; the message says what to send instead."""


def _state(request: Request) -> Any:
    return state_of(request.scope)


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:  # stop reading: a control body is never this large
            raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if optional:
            return {}
        raise BadRequest("send a JSON object as the body (Content-Type: application/json)")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _only(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; allowed: {', '.join(allowed) or 'none'}")


def _number(data: dict[str, Any], name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name!r} must be a number of seconds")
    return float(value)


def _string(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    if name not in data or data[name] is None:
        if required:
            raise BadRequest(f"{name!r} is required and must be a string")
        return None
    value = data[name]
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name!r} must be a non-empty string")
    return value


# --- clock -------------------------------------------------------------------------------------


def _clock_answer(request: Request) -> JSONResponse:
    clock = _state(request).clock
    return JSONResponse({"now": clock.now(), "frozen": clock.frozen})


async def get_clock(request: Request) -> Response:
    """``{"now": float, "frozen": bool}``."""
    return _clock_answer(request)


async def advance_clock(request: Request) -> Response:
    """Move the clock by ``seconds`` (negative goes back)."""
    data = await _body(request)
    _only(data, ("seconds",))
    if "seconds" not in data:
        raise BadRequest("'seconds' is required, e.g. {\"seconds\": 7201}")
    _state(request).clock.advance(_number(data, "seconds"))
    return _clock_answer(request)


async def set_clock(request: Request) -> Response:
    """Jump to ``now`` and/or freeze (``frozen: true``) or unfreeze the clock."""
    data = await _body(request)
    _only(data, ("now", "frozen"))
    if not data:
        raise BadRequest("give 'now' (unix seconds) and/or 'frozen' (true or false)")
    now = _number(data, "now") if data.get("now") is not None else None
    frozen = data.get("frozen")
    if frozen is not None and not isinstance(frozen, bool):
        raise BadRequest("'frozen' must be true or false")
    _state(request).clock.set(now, frozen=frozen)
    return _clock_answer(request)


# --- clients, users, approval ------------------------------------------------------------------


async def add_client(request: Request) -> Response:
    """Register a client; ``client_secret: null`` (or absent) makes it public."""
    data = await _body(request)
    _only(data, ("client_id", "client_secret", "redirect_uris", "name", "refresh_policy"))
    client_id = _string(data, "client_id")
    secret = _string(data, "client_secret", required=False)
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
        raise BadRequest("'redirect_uris' must be a non-empty list of URI strings")
    name = _string(data, "name", required=False) or "Test application"
    policy = data.get("refresh_policy")
    if policy is not None and not isinstance(policy, str | dict):
        raise BadRequest("'refresh_policy' must be a policy name or an object")
    try:
        client = _state(request).add_client(client_id, secret, uris, name, refresh_policy=policy)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(client, status_code=201)


async def add_user(request: Request) -> Response:
    """Create a user with its own account."""
    data = await _body(request)
    _only(data, ("username", "password"))
    username = _string(data, "username")
    password = _string(data, "password")
    try:
        user = _state(request).add_user(username, password)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(user, status_code=201)


async def approve(request: Request) -> Response:
    """Headless approval: the authorize parameters plus ``username``; ``{"code", "redirect"}``."""
    data = await _body(request)
    username = _string(data, "username")
    params = {k: v for k, v in data.items() if k != "username"}
    bad = sorted(k for k, v in params.items() if not isinstance(v, str))
    if bad:
        raise BadRequest(f"{bad[0]!r} must be a string, as in an authorize URL's query")
    try:
        code, redirect = _state(request).approve(params, username)
    except Exception as exc:
        # The state's authorization errors carry the OAuth error, its text and an HTTP status.
        if hasattr(exc, "error"):
            status = getattr(exc, "status", 400)
            status = status if isinstance(status, int) and 400 <= status <= 599 else 400
            return _error(status, str(exc.error), str(getattr(exc, "description", exc)))
        if isinstance(exc, ValueError):
            raise BadRequest(str(exc)) from None
        raise
    return JSONResponse({"code": code, "redirect": redirect})


# --- tokens ------------------------------------------------------------------------------------


def _filters(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for name in names:
        value = _string(data, name, required=False)
        if value is not None:
            filters[name] = value
    return filters


def _seconds(data: dict[str, Any], name: str, *, default: float | None = None) -> float:
    if data.get(name) is None:
        if default is None:
            raise BadRequest(f"{name!r} is required: a number of seconds, 0 or more")
        return default
    seconds = _number(data, name)
    if seconds < 0:
        raise BadRequest(f"{name!r} must be 0 or more seconds")
    return seconds


async def expire_tokens(request: Request) -> Response:
    """Expire the access tokens matching the filters (all when none) now, or ``in_seconds``
    from now."""
    data = await _body(request, optional=True)
    _only(data, (*_FILTERS, "in_seconds"))
    filters = _filters(data, _FILTERS)
    in_seconds = _seconds(data, "in_seconds", default=0.0)
    return JSONResponse({"expired": _state(request).expire_tokens(**filters, in_seconds=in_seconds)})


async def set_refresh_lifetime(request: Request) -> Response:
    """Give the live refresh tokens matching the filters ``seconds`` left to live."""
    data = await _body(request)
    _only(data, (*_LIFETIME_FILTERS, "seconds"))
    filters = _filters(data, _LIFETIME_FILTERS)
    if not filters:
        raise BadRequest("name the refresh token: give 'refresh_token', 'grant', 'client_id' or 'username'")
    seconds = _seconds(data, "seconds")
    return JSONResponse({"updated": _state(request).set_refresh_lifetime(seconds, **filters)})


async def revoke_tokens(request: Request) -> Response:
    """Revoke the access and refresh tokens matching the filters (all when none)."""
    data = await _body(request, optional=True)
    _only(data, _REVOKE_FILTERS)
    return JSONResponse({"revoked": _state(request).revoke_tokens(**_filters(data, _REVOKE_FILTERS))})


# --- faults, events, state, reset --------------------------------------------------------------


async def add_fault(request: Request) -> Response:
    """Arm a fault for ``count`` matching calls, from the ``nth`` (``mock_server.faults``); 201 with it."""
    data = await _body(request)
    try:
        fault = _state(request).faults.add(data)
    except FaultSpecError as exc:
        raise BadRequest(str(exc)) from None
    return JSONResponse(fault.as_dict(), status_code=201)


async def list_faults(request: Request) -> Response:
    """The armed faults, each with its calls left and the matching requests it has seen."""
    return JSONResponse(_state(request).faults.list())


async def clear_faults(request: Request) -> Response:
    """Disarm every fault."""
    _state(request).faults.reset()
    return Response(status_code=204)


async def events(request: Request) -> Response:
    """The request log, newest last; ``?since=<id>`` gives only newer events, and
    ``client_id``, ``grant_type``, ``result`` (``refused``: any refusal), ``reason``, ``path``,
    ``from`` and ``until`` (mock time) select."""
    query = request.query_params
    allowed = ("since", *_EVENT_TEXT_FILTERS, *_EVENT_TIME_FILTERS)
    for name in query:
        if name not in allowed:
            raise BadRequest(f"unknown parameter {name[:40]!r}; allowed: {', '.join(allowed)}")
        if len(query.getlist(name)) > 1:
            raise BadRequest(f"parameter {name!r} was given more than once")
    since_text = query.get("since", "0")
    if not since_text.isdigit():
        raise BadRequest("'since' must be an event id (a non-negative integer)")
    selected: dict[str, Any] = {}
    for name in _EVENT_TEXT_FILTERS:
        if name in query:
            if not query[name]:
                raise BadRequest(f"{name!r} must not be empty")
            selected[name] = query[name]
    for name, keyword in _EVENT_TIME_FILTERS.items():
        if name in query:
            try:
                bound = float(query[name])
            except ValueError:
                bound = math.nan
            if not math.isfinite(bound):
                raise BadRequest(
                    f"{name!r} must be a time in unix seconds on the mock's clock, e.g. {name}=1700000000.5"
                )
            selected[keyword] = bound
    found = _state(request).events.list(since=int(since_text))
    return JSONResponse(select(found, **selected) if selected else found)


async def state(request: Request) -> Response:
    """Clients, users, live codes and tokens (values redacted), and armed faults."""
    mock = _state(request)
    snapshot = dict(mock.snapshot())
    snapshot.setdefault("faults", mock.faults.list())
    return JSONResponse(snapshot)


async def reset(request: Request) -> Response:
    """Back to the start state."""
    _state(request).reset()
    return Response(status_code=204)


# --- guard --------------------------------------------------------------------------


def bearer_ok(request: Request, control_token: str | None) -> bool:
    """Whether the request carries the control token as a bearer token (or none is needed)."""
    if control_token is None:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), control_token.encode())


def unauthorized() -> JSONResponse:
    """401 for a control call without the right token."""
    response = _error(
        401,
        "unauthorized",
        "this mock has a control token: send 'Authorization: Bearer <control token>'",
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="mock-aweber control"'
    return response


def foreign_browser(request: Request) -> str | None:
    """Why this is a cross-origin browser request (to refuse), or None."""
    headers = request.headers
    return cross_site(headers.get("origin"), headers.get("sec-fetch-site"), headers.get("host"))


def _not_json(request: Request) -> str | None:
    headers = request.headers
    if headers.get("content-length", "0").strip() in ("", "0") and "transfer-encoding" not in headers:
        return None  # no body: nothing to parse
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json":
        return None
    return (
        f"control calls take JSON: send the body with 'Content-Type: application/json' "
        f"(this request sent {media[:60] or 'no Content-Type'!r})"
    )


def guarded(endpoint: Endpoint, control_token: str | None) -> Endpoint:
    """``endpoint`` behind the browser checks and the control token, with its BadRequest
    answered as a 400."""

    async def checked(request: Request) -> Response:
        foreign = foreign_browser(request)
        if foreign is not None:
            return _error(
                403,
                "forbidden",
                f"{foreign}: web pages cannot drive the control API; call it from a script or a "
                "test (curl, httpx, the MockServer handle), or use the dashboard at /_mock/",
            )
        if not bearer_ok(request, control_token):
            return unauthorized()
        problem = _not_json(request)
        if problem is not None:
            return _error(415, "unsupported_media_type", problem)
        try:
            return await endpoint(request)
        except BadRequest as exc:
            return _error(400, "invalid_request", str(exc))

    checked.__name__ = endpoint.__name__
    checked.__doc__ = endpoint.__doc__
    return checked
