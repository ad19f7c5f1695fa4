"""httpx.Auth that keeps an install's token fresh.

Bearer header; proactive refresh before expiry; after an answer that rejects the token
(``protocol.is_token_rejected``: any 401, or an ``invalid_token`` error body, the same rule
``OAuthHelper.get_token(check=True)`` uses), one refresh and one retry; a second rejection goes
back to the caller as it is. AWeber's 403 "Rate Limit Error" is not a reason to refresh. Works for sync and
async clients; the async flow runs the coordinator (store and token-endpoint I/O, lock waits)
in a worker thread so the event loop never blocks; a token served from the coordinator's cache
needs no I/O, so it is taken on the event loop without a thread hop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx

from oob_helper.protocol import is_token_rejected
from oob_helper.refresh import RefreshCoordinator
from oob_helper.tokens import Token
from oob_helper.transport import API_KEEPALIVE_EXPIRY


class OAuthHelperAuth(httpx.Auth):
    """Auth flow for one install, backed by the shared refresh coordinator."""

    requires_response_body = True
    # The request may be sent twice (after a 401), so its body must be replayable.
    requires_request_body = True

    def __init__(self, coordinator: RefreshCoordinator, install: str) -> None:
        self.coordinator = coordinator
        self.install = install

    def __repr__(self) -> str:
        return f"{type(self).__name__}(install={self.install!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send with a valid token; if it is rejected, refresh once (single flight) and retry once."""
        token = self.coordinator.valid_token(self.install)
        _authorize(request, token)
        response = yield request
        if not is_token_rejected(response.status_code, response.content):
            return
        _authorize(request, self._after_rejection(token))
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The async twin of ``auth_flow``; coordinator calls that may do I/O run in a worker thread."""
        # A cached token is a dictionary look-up: no thread hop for it.
        token = self.coordinator.cached_token(self.install)
        if token is None:
            token = await _in_thread(self.coordinator.valid_token, self.install)
        _authorize(request, token)
        response = yield request
        if response.status_code < 400:
            return
        # httpx reads the body for ``requires_response_body`` only in the flows it wraps.
        await response.aread()
        if not is_token_rejected(response.status_code, response.content):
            return
        _authorize(request, await _in_thread(self._after_rejection, token))
        yield request

    def _after_rejection(self, rejected: Token) -> Token:
        """The token to retry with: a sibling's newer one, or a fresh one (single flight)."""
        _, record = self.coordinator.refresh(self.install, rejected_access_token=rejected.access_token)
        assert record.token is not None  # the coordinator raises when there is no token
        return record.token


def _authorize(request: httpx.Request, token: Token) -> None:
    request.headers["Authorization"] = f"Bearer {token.access_token}"


async def _in_thread(func: Callable[[Any], Token], arg: Any) -> Token:
    """``func(arg)`` in a worker thread. anyio (and asyncio) load only here, on the first async
    call: a CLI run or a sync client does not pay for them."""
    import anyio.to_thread  # noqa: PLC0415

    return await anyio.to_thread.run_sync(func, arg)


class _ClosingClient(httpx.Client):
    """An httpx.Client that also runs ``on_close`` (e.g. closes the helper it was made from)."""

    _on_close: Callable[[], None] | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._on_close is not None:
                self._on_close()


def _api_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """JSON answers, and (unless the caller brings its own limits or transport) idle connections
    reused for API_KEEPALIVE_EXPIRY at most, not httpx's 5 s: an API POST sent on a connection
    the server is closing at that moment may have been acted on and cannot be resent."""
    kwargs.setdefault("headers", {"Accept": "application/json"})
    if "limits" not in kwargs and "transport" not in kwargs:
        kwargs["limits"] = httpx.Limits(keepalive_expiry=API_KEEPALIVE_EXPIRY)
    return kwargs


def api_http_client(
    coordinator: RefreshCoordinator,
    install: str,
    *,
    base_url: str,
    on_close: Callable[[], None] | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """An httpx.Client for the API at ``base_url`` whose auth keeps ``install``'s token fresh."""
    client = _ClosingClient(
        base_url=base_url, auth=OAuthHelperAuth(coordinator, install), **_api_defaults(kwargs)
    )
    client._on_close = on_close
    return client


def async_api_http_client(
    coordinator: RefreshCoordinator, install: str, *, base_url: str, **kwargs: Any
) -> httpx.AsyncClient:
    """The async twin of ``api_http_client``."""
    return httpx.AsyncClient(
        base_url=base_url, auth=OAuthHelperAuth(coordinator, install), **_api_defaults(kwargs)
    )
