"""Handlers for /oauth2/authorize, /oauth2/token and /oauth2/revoke: HTTP in, state calls, HTTP out.

Every decision is ``MockState``'s; these functions only parse requests and render answers.

Consent form protection: the page carries a single-use form nonce (256 random bits) that the
state binds to the validated authorize request and to a hash of a random ``SameSite=Lax``,
``HttpOnly`` cookie set with the page. A post from another site has neither the cookie nor the
nonce; a nonce dies on use, after a wrong password (a fresh one comes with the page) and after
``code_ttl`` on the mock clock. The browser carries no request parameters back, so nothing in
the form can be tampered with.

Token and revoke requests: form (``application/x-www-form-urlencoded``), JSON or query-string
parameters, merged (the same parameter twice with different values is refused); client
credentials by HTTP Basic, body or query. Bodies over ``MockConfig.max_body_bytes`` (64 KiB)
get 413 with an RFC 6749 style JSON error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from mock_server import events_asgi
from mock_server.authorize import AuthorizeRequest
from mock_server.clients import scope_words
from mock_server.errors import AuthorizeError, TokenError
from mock_server.grants import ClientCredentials
from mock_server.pages import render
from mock_server.state import MockState, add_query
from mock_server.world import SCOPE_STATE, state_of

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
COOKIE = "mock_authz"
_FORM = "application/x-www-form-urlencoded"
_MAX_FIELDS = 200  # parameters in a query or form: far more than any OAuth request needs
_WANTED_HEADERS = frozenset({b"authorization", b"content-type", b"content-length"})
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")


class _BodyTooLarge(Exception):
    pass


def _state(request: Request) -> MockState:
    state: MockState = state_of(request.scope)
    return state


def _provider(state: MockState) -> str:
    return "Constant Contact" if state.config.profile == "constantcontact" else "AWeber"


async def _read_body(request: Request, limit: int, declared: str | None = None) -> bytes:
    if declared is None:
        declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    # Read the ASGI messages directly: Request.stream()'s generator costs more than the rest of
    # this function on the benchmarked token path.
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _pairs_from_body(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Parameters of a form or JSON body; ValueError names the problem."""
    if not body.strip():
        return []
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ValueError("the JSON body is malformed or nested too deeply") from None
        if not isinstance(data, dict):
            raise ValueError("the JSON body must be an object of parameters")
        pairs = []
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(f"parameter {key[:40]!r} must be a string")  # noqa: TRY004
            pairs.append((key, str(value)))
        return pairs
    if media not in ("", _FORM, "text/plain"):
        raise ValueError(f"Content-Type must be {_FORM} or application/json")
    try:
        return _parse_form(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the form body is not valid UTF-8") from None


def _parse_form(text: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs, as parse_qsl(keep_blank_values=True) gives.

    Written out because parse_qsl's generality costs more than the rest of the refresh grant.
    """
    if text.count("&") >= _MAX_FIELDS:
        raise ValueError(f"the form has more than {_MAX_FIELDS} parameters")
    pairs = []
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name, errors="strict"), unquote_plus(value, errors="strict")))
    return pairs


def _merge(sources: Iterable[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in sources:
        if key in params and params[key] != value:
            raise ValueError(f"parameter {key[:40]!r} was sent more than once with different values")
        params[key] = value
    return params


def request_headers(scope: Scope) -> dict[bytes, str]:
    """The headers a token or revoke request is read by (the first of each), in one pass."""
    headers: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED_HEADERS and name not in headers:
            headers[name] = value.decode("latin-1")
    return headers


async def _parse_client_request(
    request: Request, state: MockState
) -> tuple[dict[str, str], ClientCredentials]:
    """Parameters and client credentials of a token or revoke request; TokenError otherwise."""
    # One pass over the raw headers: this is the benchmarked hot path (refresh grant).
    headers = request_headers(request.scope)
    body = await _read_body(request, state.config.max_body_bytes, headers.get(b"content-length"))
    return client_request(headers, request.scope.get("query_string", b""), body)


def client_request(
    headers: dict[bytes, str], query_string: bytes, body: bytes
) -> tuple[dict[str, str], ClientCredentials]:
    """Parameters and client credentials from a token or revoke request's parts; TokenError
    names what is wrong. Also what a fault matching on them reads (``faults_asgi``)."""
    try:
        raw_query = query_string.decode("latin-1")
        query = (
            parse_qsl(raw_query, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FIELDS)
            if raw_query
            else []
        )
        params = _merge([*query, *_pairs_from_body(headers.get(b"content-type", ""), body)])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("invalid_request", str(exc)) from None
    authorization = headers.get(b"authorization", "")
    scheme, _, blob = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return params, ClientCredentials(params.get("client_id"), params.get("client_secret"))
    try:
        decoded = base64.b64decode(blob.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise TokenError(
            "invalid_client",
            "Malformed Basic authorization header: send base64(client_id:client_secret)",
            401,
            basic_challenge=True,
        )
    for key, value in (("client_id", client_id), ("client_secret", secret)):
        if key in params and params[key] != value:
            raise TokenError(
                "invalid_request", f"{key} in the request differs from the one in the Authorization header"
            )
    return params, ClientCredentials(client_id, secret, via_basic=True)


# One encoder for every answer: json.dumps builds a new one per call when given options.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_json_str = json.encoder.encode_basestring  # the C string escaper the encoder itself uses


def _json_bytes(content: Any) -> bytes:
    """Compact JSON, as ``_JSON_ENCODER`` writes it.

    Token answers are flat objects of strings and integers, written here directly: the encoder
    sets up its machinery anew on every call, about a microsecond on the benchmarked refresh
    grant. Anything else goes to the encoder.
    """
    if type(content) is dict:
        parts = []
        for key, value in content.items():
            if type(key) is not str:
                break
            if type(value) is str:
                parts.append(f"{_json_str(key)}:{_json_str(value)}")
            elif type(value) is int:  # not bool: type() is exact
                parts.append(f"{_json_str(key)}:{value}")
            else:
                break
        else:
            return ("{" + ",".join(parts) + "}").encode()
    return _JSON_ENCODER.encode(content).encode()


class _TokenJSON(Response):
    """A token-endpoint JSON answer with its headers laid out directly.

    Response.__init__'s general header handling costs a noticeable share of the refresh grant,
    the path benchmarked against a bare endpoint; the answer is always JSON with no-store.
    """

    media_type = "application/json"

    def __init__(
        self, content: Any, status_code: int = 200, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.body = _json_bytes(content)
        self.raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(self.body)),
            (b"cache-control", b"no-store"),
            (b"pragma", b"no-cache"),
            *extra,
        ]


class RawEndpoint:
    """Serves ``handler(request, state) -> Response`` as a plain ASGI app bound to one state.

    Starlette wraps function endpoints in a per-request exception-handling layer; the token
    endpoint raises nothing it would handle, so it skips that layer (ExceptionMiddleware and
    ServerErrorMiddleware still stand in front of it). The default world's state is bound here
    because looking it up through ``app.state`` costs half a microsecond per request; the edge
    puts a sandbox's state in the scope.
    """

    def __init__(
        self, handler: Callable[[Request, MockState], Awaitable[Response]], state: MockState
    ) -> None:
        self.handler = handler
        self.state = state
        self.__name__ = handler.__name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A sandbox's request carries its own state (mock_server.world); others use the bound one.
        response = await self.handler(Request(scope, receive, send), scope.get(SCOPE_STATE) or self.state)
        await response(scope, receive, send)


def _token_error(exc: TokenError) -> Response:
    extra: tuple[tuple[bytes, bytes], ...] = ()
    if exc.basic_challenge and exc.status == 401:
        extra = ((b"www-authenticate", b'Basic realm="mock-aweber", charset="UTF-8"'),)
    return _TokenJSON({"error": exc.error, "error_description": exc.description}, exc.status, extra)


def _too_large(limit: int) -> JSONResponse:
    body = {"error": "invalid_request", "error_description": f"the request body is larger than {limit} bytes"}
    return JSONResponse(body, 413, NO_STORE)


async def token(request: Request, state: MockState) -> Response:
    """POST /oauth2/token: authorization_code and refresh_token grants.

    Its event carries the request's number (``request``) and, for a refusal, the verdict.
    """
    grant_type = client_id = None
    number = state.next_request_number()
    try:
        params, creds = await _parse_client_request(request, state)
        grant_type, client_id = params.get("grant_type"), creds.client_id
        answer = state.token_request(params, creds, number)
    except _BodyTooLarge:
        _refused(request, number, None, None, _too_large_error(state))
        return _too_large(state.config.max_body_bytes)
    except TokenError as exc:
        _refused(request, number, grant_type, client_id, exc)
        return _token_error(exc)
    events_asgi.annotate(request, grant_type=grant_type, client_id=client_id, result="ok", request=number)
    return _TokenJSON(answer)


def _too_large_error(state: MockState) -> TokenError:
    return TokenError(
        "invalid_request", f"the request body is larger than {state.config.max_body_bytes} bytes"
    )


def _refused(
    request: Request, number: int, grant_type: str | None, client_id: str | None, exc: TokenError
) -> None:
    events_asgi.annotate(
        request,
        grant_type=grant_type,
        client_id=client_id,
        result=exc.error,
        request=number,
        verdict=exc.verdict.as_dict(),
    )


async def revoke(request: Request) -> Response:
    """POST /oauth2/revoke (RFC 7009)."""
    state = _state(request)
    client_id = None
    number = state.next_request_number()
    try:
        params, creds = await _parse_client_request(request, state)
        client_id = creds.client_id
        state.revoke_request(params, creds, number)
    except _BodyTooLarge:
        _refused(request, number, "revoke", None, _too_large_error(state))
        return _too_large(state.config.max_body_bytes)
    except TokenError as exc:
        _refused(request, number, "revoke", client_id, exc)
        return _token_error(exc)
    events_asgi.annotate(request, grant_type="revoke", client_id=client_id, result="ok", request=number)
    return Response(status_code=200, headers=NO_STORE)


# -- the authorization endpoint -------------------------------------------------------------------


def _error_page(state: MockState, exc: AuthorizeError) -> Response:
    return render(
        "error.html",
        provider=_provider(state),
        status=exc.status,
        title="This authorization request cannot be completed",
        message=exc.description,
        error=exc.error,
        denied=False,
    )


def _authorize_error(state: MockState, exc: AuthorizeError) -> Response:
    if exc.redirect_uri is None:
        return _error_page(state, exc)
    params = {"error": exc.error, "error_description": exc.description}
    if exc.state is not None:
        params["state"] = exc.state
    return RedirectResponse(add_query(exc.redirect_uri, params), 302, headers=NO_STORE)


def _binding(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _origin(uri: str) -> list[str]:
    parts = urlsplit(uri)
    return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme in ("http", "https") else []


def _login_page(
    request: Request, areq: AuthorizeRequest, *, message: str = "", username: str = ""
) -> Response:
    state = _state(request)
    cookie = request.cookies.get(COOKIE, "")
    if not _COOKIE_VALUE.fullmatch(cookie):
        cookie = secrets.token_urlsafe(32)
    nonce = state.begin_login(areq, _binding(cookie))
    words = scope_words(state.config.profile)
    response = render(
        "login.html",
        provider=_provider(state),
        form_targets=_origin(areq.redirect_uri),
        client_name=areq.client_name,
        scopes=[words[s] for s in areq.scopes],
        action=request.url.path,
        form_token=nonce,
        message=message,
        username=username,
    )
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", path="/oauth2")
    return response


def _query_params(request: Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise AuthorizeError("invalid_request", f"parameter {key[:40]!r} was sent more than once")
        params[key] = value
    return params


async def authorize(request: Request) -> Response:
    """GET shows the login and consent page; POST handles its answer (or a POSTed request)."""
    state = _state(request)
    try:
        if request.method == "GET":
            return _login_page(request, state.validate_authorize(_query_params(request)))
        try:
            body = await _read_body(request, state.config.max_body_bytes)
            form = _merge(_pairs_from_body(request.headers.get("content-type", _FORM), body))
        except _BodyTooLarge:
            return _error_page(state, AuthorizeError("invalid_request", "the form is too large", 413))
        except ValueError as exc:
            raise AuthorizeError("invalid_request", str(exc)) from None
        if "form_token" not in form:  # RFC 6749 3.1 allows POSTing the authorization request itself
            return _login_page(request, state.validate_authorize({**_query_params(request), **form}))
        return _decide(request, form)
    except AuthorizeError as exc:
        return _authorize_error(state, exc)


def _decide(request: Request, form: dict[str, str]) -> Response:
    state = _state(request)
    areq = state.take_login(form["form_token"], _binding(request.cookies.get(COOKIE, "")))
    if form.get("decision") == "deny":
        target = state.denial_redirect(areq)
        if target is not None:
            return RedirectResponse(target, 302, headers=NO_STORE)
        return render(
            "error.html",
            provider=_provider(state),
            title="Access denied",
            message=f"You denied {areq.client_name} access to your account. Nothing was shared.",
            error="",
            denied=True,
        )
    username = form.get("username", "")
    user = state.check_password(username, form.get("password", ""))
    if user is None:
        return _login_page(request, areq, message="Wrong username or password. Try again.", username=username)
    code, redirect = state.issue_code(areq, user.username)
    if redirect is not None:
        return RedirectResponse(redirect, 302, headers=NO_STORE)
    return render(
        "oob.html",
        provider=_provider(state),
        client_name=areq.client_name,
        code=code,
        minutes=max(1, state.config.code_ttl // 60),
    )
