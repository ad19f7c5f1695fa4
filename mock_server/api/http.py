"""The HTTP seam of the API slice: body parsing, bearer tokens, the call context, error bodies.

Choices where AWeber's documentation is silent (providers.md A11.5, A14):

- A missing, unknown, expired or revoked access token gets 401 with the RFC 6750 body
  ``{"error": "invalid_token", "error_description": ...}`` and ``WWW-Authenticate: Bearer
  error="invalid_token"``, which is what AWeber's own WordPress client tests for before it
  refreshes. Option ``api_auth_error_style`` (a MockConfig attribute or ``extra`` key) set to
  ``"envelope"`` answers AWeber's documented envelope ``UnauthorizedError`` "Invalid Token"
  instead, to test clients against that form.
- A token used on an account that is not its own gets 401 ``UnauthorizedError`` "Invalid
  Account" in the envelope shape (AWeber lists that message under 401). Being an envelope, it
  does not look like an expired token, so clients do not refresh in vain.
- The token is taken, in this order, from ``Authorization: Bearer``, a form-encoded body field
  ``access_token``, or the ``access_token`` query parameter (AWeber allows all three).
- Bodies above 64 KiB get 413; bodies that are not UTF-8 get AWeber's 400 "Invalid Character
  Encoding"; JSON bodies must be objects and may not use NaN or Infinity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server import events_asgi, verdicts
from mock_server.api.model import BadRequest
from mock_server.api.views import Links
from mock_server.config import MockConfig
from mock_server.ratelimit import RateLimited
from mock_server.state import AccessGrant, InvalidToken, MockState
from mock_server.verdicts import Verdict
from mock_server.world import state_of

MAX_BODY_BYTES = 64 * 1024
_DOCS = {
    400: "badrequest",
    401: "unauthorized",
    403: "forbidden",
    404: "notfound",
    405: "methodnotallowed",
    413: "badrequest",
    415: "badrequest",
}
# subscriber.read-extended is AWeber's legacy name for what subscriber.read now grants.
_SCOPE_ALIASES = {"subscriber.read": {"subscriber.read", "subscriber.read-extended"}}


def option(config: MockConfig, name: str, default: str) -> str:
    """A setting this slice reads from MockConfig, as an attribute or an ``extra`` key."""
    value = getattr(config, name, None)
    if value is None:
        value = config.extra.get(name, default)
    return str(value)


class ApiError(Exception):
    """An error answered in AWeber's envelope ``{"error": {status, type, message, ...}}``."""

    def __init__(
        self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        """The JSON error response."""
        return envelope(self.status, self.error_type, self.message, self.headers)


class TokenError(Exception):
    """The bearer token is missing or not valid (401)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def envelope(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """AWeber's REST error body."""
    body = {
        "error": {
            "status": status,
            "type": error_type,
            "message": message,
            "documentation_url": f"https://api.aweber.com/#{_DOCS.get(status, 'badrequest')}",
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def token_error_response(config: MockConfig, description: str) -> Response:
    """The 401 for a bad token, in the configured style (see the module docstring)."""
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if option(config, "api_auth_error_style", "rfc6750") == "envelope":
        return envelope(401, "UnauthorizedError", "Invalid Token", headers)
    body = {"error": "invalid_token", "error_description": description}
    return JSONResponse(body, status_code=401, headers=headers)


@dataclass
class Body:
    """A parsed request body: ``kind`` is none, json, form or other."""

    kind: str = "none"
    fields: dict[str, Any] = field(default_factory=dict)
    error: ApiError | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> Body:
    """Read and parse the body; problems are kept in ``error`` to raise after authentication."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "BadRequestError", f"Request body is larger than {limit} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return Body()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        kind = "json"
    elif media == "application/x-www-form-urlencoded":
        kind = "form"
    else:
        return Body(kind="other")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Body(kind=kind, error=ApiError(400, "BadRequestError", "Invalid Character Encoding"))
    if kind == "form":
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=1000, strict_parsing=False)
        except ValueError:
            return Body(kind=kind, error=ApiError(400, "BadRequestError", "Too many form fields."))
        fields: dict[str, Any] = {}
        for key, value in pairs:
            previous = fields.get(key)
            if previous is None:
                fields[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                fields[key] = [previous, value]
        return Body(kind=kind, fields=fields)
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return Body(kind=kind, error=ApiError(400, "BadRequestError", "The request body is not valid JSON."))
    if not isinstance(parsed, dict):
        return Body(
            kind=kind, error=ApiError(400, "BadRequestError", "The request body must be a JSON object.")
        )
    return Body(kind=kind, fields=parsed)


def bearer_token(request: Request, body: Body) -> str | None:
    """The access token from the header, a form field or the query (AWeber accepts all three)."""
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    form_token = body.fields.get("access_token") if body.kind == "form" else None
    if isinstance(form_token, str) and form_token:
        return form_token
    return request.query_params.get("access_token") or None


def path_id(request: Request, name: str, what: str) -> int:
    """A numeric id from the path; anything else is AWeber's 404."""
    raw = str(request.path_params[name])
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "NotFoundError", f"Object: None, name: {raw[:40]!r}")
    return int(raw)


@dataclass
class Call:
    """One authenticated API request."""

    request: Request
    state: MockState
    grant: AccessGrant
    body: Body
    links: Links

    @property
    def account_id(self) -> int:
        """The token's account."""
        return self.grant.account_id

    def param(self, name: str) -> str | None:
        """A query parameter, or a body field of the same name."""
        value = self.request.query_params.get(name)
        if value is None and self.body.kind in ("form", "json"):
            found = self.body.fields.get(name)
            value = found if isinstance(found, str) else None
        return value

    def query(self) -> Sequence[tuple[str, str]]:
        """The query parameters in order, for building links."""
        return self.request.query_params.multi_items()

    def filters(self) -> dict[str, str]:
        """Query parameters as find filters (the last value of each wins)."""
        return dict(self.request.query_params.items())

    def operation(self, *allowed: str) -> str | None:
        """``ws.op``, which must be one of ``allowed`` (or absent)."""
        op = self.param("ws.op") or None
        if op is not None and op not in allowed:
            raise ApiError(400, "WebServiceError", f"No such operation: {op[:60]!r}")
        return op

    def require_body(self) -> dict[str, Any]:
        """The fields of a JSON or form body; anything else is AWeber's 415."""
        if self.body.kind == "other":
            raise ApiError(
                415,
                "InvalidContentType",
                "Content Type must be application/json or application/x-www-form-urlencoded",
            )
        return {key: value for key, value in self.body.fields.items() if key not in ("access_token", "ws.op")}


async def begin(
    request: Request,
    scope: str | tuple[str, ...] | None,
    account_param: str | None = "account_id",
    *,
    cost: int = 1,
    max_body: int = MAX_BODY_BYTES,
) -> Call:
    """Authenticate, count ``cost`` calls against the rate limit, check the account and every
    scope in ``scope`` (None: the operation declares none, like AWeber's single web form)."""
    state: MockState = state_of(request.scope)
    body = await read_body(request, max_body) if request.method not in ("GET", "HEAD") else Body()
    token = bearer_token(request, body)
    if token is None:
        _refused(request, None, "invalid_token", verdicts.plain("invalid_token", "no access token was sent"))
        raise TokenError("The access token is missing.")
    try:
        grant = state.authenticate(token)
    except InvalidToken as exc:
        _refused(request, None, "invalid_token", exc.verdict)
        raise TokenError(exc.description) from None
    try:
        state.rate_limiter.hit(grant.account_id, cost)
    except RateLimited as exc:
        limit = state.config.rate_limit_per_minute
        verdict = Verdict(
            verdicts.RATE_LIMITED,
            f"account {grant.account_id} went over {limit} requests a minute: "
            f"locked out until {exc.until:.3f}",
            {"account_id": grant.account_id, "limit_per_minute": limit, "until": exc.until},
        )
        _refused(request, grant.client_id, "rate_limited", verdict)
        raise ApiError(403, "ForbiddenError", "Rate Limit Error") from None
    if account_param is not None:
        raw = str(request.path_params[account_param])
        if not raw.isdigit() or not raw.isascii() or len(raw) > 18 or int(raw) != grant.account_id:
            raise ApiError(401, "UnauthorizedError", "Invalid Account")
    needed = (scope,) if isinstance(scope, str) else scope or ()
    for name in needed:
        if not _SCOPE_ALIASES.get(name, {name}) & grant.scopes:
            verdict = Verdict(
                verdicts.SCOPE_NOT_GRANTED,
                f"the access token does not grant the {name!r} scope",
                {"needed": name, "granted": sorted(grant.scopes)},
            )
            _refused(request, grant.client_id, "insufficient_scope", verdict)
            raise ApiError(
                403,
                "ForbiddenError",
                f'The access token does not grant the "{name}" scope; '
                "authorize the application again with it.",
                {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{name}"'},
            )
    if body.error is not None:
        raise body.error
    return Call(request, state, grant, body, Links(str(request.base_url)))


def _refused(request: Request, client_id: str | None, result: str, verdict: Verdict) -> None:
    events_asgi.annotate(request, client_id=client_id, result=result, verdict=verdict.as_dict())


def show_total(call: Call, total: int) -> Response | None:
    """``ws.show=total_size`` answers the bare integer; other values are a 400."""
    show = call.param("ws.show")
    if not show:
        return None
    if show != "total_size":
        raise BadRequest(f'Invalid value for "ws.show" parameter: {show[:40]!r}.')
    return JSONResponse(total)
