"""The HTTP seam: the one place that sends token-endpoint requests, and the account look-up.

Retries are bounded, with exponential backoff, and chosen by what a resend can do. A code or a
rotating refresh token is spent by the first request that reaches the provider, so such a
request (``retry_safe`` False) is resent only when the provider cannot have acted on it: the
connection failed before anything was sent, or the provider answered 503, or 429 with a
Retry-After. A 500, 502 or 504, a timeout or a dropped connection may hide a request the
provider already processed (a gateway's 502 often does), so those answers go back to the
caller as a lost answer, never resent. Revocation is harmless to repeat (``retry_safe``) and
keeps retries on network errors and every 5xx. Nothing secret is logged: only the grant, the
host and the status.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oob_helper.errors import InvalidToken, NetworkError, ProviderError
from oob_helper.protocol import (
    Account,
    TokenRequest,
    is_token_rejected,
    parse_account,
    parse_error_response,
    parse_token_response,
)
from oob_helper.providers import Provider
from oob_helper.tokens import Token

if TYPE_CHECKING:
    import httpx

# httpx is imported by the methods that send, not with this module: ``oob-helper token`` with a
# valid stored token sends nothing, and importing httpx would cost it more than everything else
# it does (bench/bench_cli_startup.py).

logger = logging.getLogger("oob_helper.transport")


def default_timeout() -> httpx.Timeout:
    """15 s per read, 5 s to connect."""
    import httpx  # noqa: PLC0415 - lazy, see above

    return httpx.Timeout(15.0, connect=5.0)


def defer_httpx_command_line() -> None:
    """Keep ``import httpx`` from importing httpx's own command line in this process.

    httpx's ``__init__`` imports ``httpx._main`` for its ``httpx`` command, and that imports
    click, rich and pygments whenever they are installed (click comes with uvicorn): about
    90 ms of every ``oob-helper`` run that sends a request, more than the rest of httpx
    (bench/bench_refresh_all.py, bench/bench_cli_startup.py). ``oob_helper.cli.main``, which
    owns its process, calls this first: a stand-in goes in, and imports the real one if
    anything calls it. The library never calls it: it does not own its host's process. Here in
    the transport because only the transport and the auth may import httpx.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main", "Stand-in until httpx's command line is used.")

    def real_main(*args: Any, **kwargs: Any) -> Any:
        del sys.modules["httpx._main"]
        from httpx._main import main as httpx_main  # noqa: PLC0415 - the point of the stand-in

        return httpx_main(*args, **kwargs)

    stand_in.main = real_main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


def _not_sent(exc: Exception) -> bool:
    """Whether the request certainly did not reach the server: always safe to resend."""
    import httpx  # noqa: PLC0415 - lazy, see above

    not_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    return isinstance(exc, not_sent)


def _cookieless_client(timeout: httpx.Timeout, limits: httpx.Limits) -> httpx.Client:
    """An httpx.Client that keeps no cookies. Token endpoints and the account look-up never
    need one, and keeping one would carry state between installs' requests. Not only the jar:
    httpx's ``Cookies.extract_cookies`` wraps every answer and its request in urllib objects
    (copying all headers) before the jar sees them, a few percent of the client's CPU per
    refresh in ``refresh --all``; here it returns at once. Made when the client is:
    ``http.cookiejar`` imports ``urllib.request``, which ``oob-helper token`` does not need."""
    from http.cookiejar import CookieJar  # noqa: PLC0415 - lazy, see above

    import httpx  # noqa: PLC0415 - lazy, see above

    class NoCookieJar(CookieJar):
        def extract_cookies(self, response: object, request: object) -> None:
            """Ignore the answer's cookies."""

        def set_cookie(self, cookie: object) -> None:
            """Ignore a cookie set by hand."""

    class NoCookies(httpx.Cookies):
        def extract_cookies(self, response: httpx.Response) -> None:
            """Ignore the answer's cookies (without building urllib stand-ins for it)."""

    client = httpx.Client(timeout=timeout, limits=limits, transport=_trust_store_on_first_https(limits))
    # httpx.Client keeps its cookies in ``_cookies`` and calls ``extract_cookies`` on it for
    # every answer; its ``cookies`` setter would wrap ours in a plain Cookies again.
    client._cookies = NoCookies(NoCookieJar())
    return client


def _trust_store_on_first_https(limits: httpx.Limits) -> httpx.BaseTransport:
    """httpx's default transport, except that its trust store is loaded on the first https://
    request, not with the client. Loading certifi's bundle cost 35 ms of every ``refresh --all``
    and freeing it 20 ms more at exit, a process's whole start-up against a mock on http://
    (bench/bench_refresh_all.py). http:// requests go through a transport whose TLS context
    trusts no certificate, so a handshake there could only fail; https:// ones through the
    transport httpx.Client would have made (certifi, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    import ssl  # noqa: PLC0415 - with httpx, which imports it anyway

    import httpx  # noqa: PLC0415 - lazy, see above

    class TrustStoreOnFirstHttps(httpx.BaseTransport):
        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._plain = httpx.HTTPTransport(limits=limits, verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
            self._tls: httpx.HTTPTransport | None = None

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            """Send ``request`` on the transport for its scheme."""
            if request.url.scheme == "http":
                return self._plain.handle_request(request)
            return self._secure().handle_request(request)

        def _secure(self) -> httpx.HTTPTransport:
            with self._lock:
                if self._tls is None:
                    self._tls = httpx.HTTPTransport(limits=limits)
                return self._tls

        def close(self) -> None:
            """Close both transports' connections."""
            self._plain.close()
            with self._lock:
                if self._tls is not None:
                    self._tls.close()

    return TrustStoreOnFirstHttps()


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _may_resend(request: TokenRequest, response: httpx.Response) -> bool:
    """Whether an answer lets ``request`` be sent again (see the module docstring)."""
    status = response.status_code
    if status == 503:
        return True  # the provider says it did not serve the request
    if status == 429:
        return _retry_after(response) is not None
    return status >= 500 and request.retry_safe


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    return None


DEFAULT_KEEP_ALIVE = 20  # idle connections kept open, as httpx's default

# How long an idle connection may be reused: well under the shortest idle timeout servers ship
# with (gunicorn 2 s; uvicorn, Apache and Node 5 s). httpx's default is 5 s, the same as
# uvicorn's: a request sent on a connection the server is closing that same moment fails with
# no answer after it may have been sent, and a refresh or a code exchange cannot be resent.
# Within a burst (``refresh --all``, one page's API calls) connections are idle for
# milliseconds and are still reused.
KEEPALIVE_EXPIRY = 1.0
# The API clients' (``OAuthHelper.client()``): under the 5 s of uvicorn, Apache and Node with a
# second to spare. API calls a few seconds apart (a page load, a plugin's cron step) keep their
# connection and skip a TLS handshake, which 1 s would cost them; a refresh comes in a burst or
# hours after the last request, so the token requests lose nothing by the shorter limit.
API_KEEPALIVE_EXPIRY = 4.0


class Transport:
    """Sends token, refresh and revoke requests and API probes over one httpx.Client."""

    def __init__(
        self,
        http: httpx.Client | None = None,
        *,
        attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._owns_http = http is None
        self._http = http
        self._timeout = timeout
        self._http_lock = threading.Lock()
        # Parsed endpoint URLs by their text: a token request goes to one of two or three
        # URLs, and httpx would otherwise parse the string again for every request.
        self._urls: dict[str, httpx.URL] = {}
        self._closed = False
        self._keep_alive = DEFAULT_KEEP_ALIVE
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(attempts={self.attempts})"

    def _delay(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * (2**attempt)))

    def send(self, request: TokenRequest, *, guard: Callable[[], None] | None = None) -> httpx.Response:
        """Send ``request`` with bounded retries; the last answer is returned, whatever its status.

        ``guard`` runs before every send and may raise to stop (a lock holder that lost its
        lease). Raises NetworkError when no answer came back.
        """
        import httpx  # noqa: PLC0415 - lazy, see above

        host = _host(request.url)
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            if guard is not None:
                guard()
            try:
                response = self.http.request(
                    request.method, self._url(request.url), data=request.form, headers=request.headers
                )
            except httpx.TransportError as exc:
                kind = type(exc).__name__
                safe = request.retry_safe or _not_sent(exc)
                if last or not safe:
                    logger.warning("%s request to %s failed: %s", request.grant, host, kind)
                    hint = (
                        "" if safe else " (the request may have reached the provider, so it was not resent)"
                    )
                    raise NetworkError(
                        f"could not get an answer from the provider at {host} ({kind}){hint}: "
                        "check the network and the provider's URL, then try again"
                    ) from None
                delay = self._delay(attempt)
                logger.info(
                    "%s request to %s failed (%s); retrying in %.1fs", request.grant, host, kind, delay
                )
                self.sleep(delay)
                continue
            logger.debug("%s request to %s: HTTP %s", request.grant, host, response.status_code)
            if last or not _may_resend(request, response):
                if response.status_code >= 500 and not request.retry_safe and response.status_code != 503:
                    logger.warning(
                        "%s request to %s: HTTP %s; not resent (the provider may have acted on it)",
                        request.grant,
                        host,
                        response.status_code,
                    )
                return response
            retry_after = _retry_after(response)
            if retry_after is not None and retry_after > self.max_retry_after:
                return response  # too long to wait here; the error carries retry_after
            delay = retry_after if retry_after is not None else self._delay(attempt)
            logger.info(
                "%s request to %s: HTTP %s; retrying in %.1fs",
                request.grant,
                host,
                response.status_code,
                delay,
            )
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def token(
        self,
        request: TokenRequest,
        *,
        clock: Callable[[], float],
        provider: Provider,
        previous: Token | None = None,
        requested_scopes: tuple[str, ...] = (),
        guard: Callable[[], None] | None = None,
    ) -> Token:
        """Send a code-exchange or refresh request and parse the Token (expiry taken at receipt)."""
        response = self.send(request, guard=guard)
        return parse_token_response(
            response.status_code,
            response.content,
            response.headers.get("Content-Type", ""),
            now=clock(),
            provider=provider,
            previous=previous,
            requested_scopes=requested_scopes,
            retry_after=_retry_after(response),
        )

    def revoke(self, request: TokenRequest) -> None:
        """RFC 7009 revocation; raises the ProviderError the answer means unless it is 2xx."""
        response = self.send(request)
        if not 200 <= response.status_code < 300:
            raise parse_error_response(
                response.status_code,
                response.content,
                response.headers.get("Content-Type", ""),
                retry_after=_retry_after(response),
            )

    def api_get(self, url: str, access_token: str) -> httpx.Response:
        """One GET on the provider's API with a bearer token (no retries)."""
        import httpx  # noqa: PLC0415 - lazy, see above

        try:
            return self.http.get(
                url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
            )
        except httpx.TransportError as exc:
            raise NetworkError(
                f"could not get an answer from the API at {_host(url)} ({type(exc).__name__}): "
                "check the network and the API base URL, then try again"
            ) from None

    def post(
        self, url: str, *, content: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, float | None]:
        """One POST outside OAuth (the webhook notifier; no retries): its status and Retry-After.

        Raises NetworkError naming only the host when no answer came back within ``timeout``.
        """
        import httpx  # noqa: PLC0415 - lazy, see above

        try:
            response = self.http.post(url, content=content, headers=dict(headers), timeout=timeout)
        except httpx.TransportError as exc:
            raise NetworkError(f"no answer from {_host(url)} ({type(exc).__name__})") from None
        return response.status_code, _retry_after(response)

    def fetch_account(self, provider: Provider, access_token: str) -> Account:
        """The account the token belongs to; raises InvalidToken when the API refuses the token."""
        if not provider.account_path:
            raise ProviderError(f"{provider.display_name} has no account endpoint configured")
        response = self.api_get(provider.api_base + provider.account_path, access_token)
        if is_token_rejected(response.status_code, response.content):
            raise InvalidToken(
                f"the API refused the access token (HTTP {response.status_code})",
                status_code=response.status_code,
            )
        return parse_account(
            provider, response.status_code, response.content, response.headers.get("Content-Type", "")
        )

    def _url(self, text: str) -> httpx.URL:
        url = self._urls.get(text)
        if url is None:
            import httpx  # noqa: PLC0415 - lazy, see above

            url = httpx.URL(text)
            if len(self._urls) < 64:  # a handful in practice; bounded whatever a caller sends
                self._urls[text] = url
        return url

    @property
    def http(self) -> httpx.Client:
        """The client, made on first use: building one (TLS context, certificates) costs more
        than a CLI run that finds a valid token in the store needs in all."""
        if self._http is None:
            with self._http_lock:
                if self._http is None:
                    import httpx  # noqa: PLC0415 - lazy, see above

                    timeout = self._timeout if self._timeout is not None else default_timeout()
                    limits = httpx.Limits(
                        max_connections=max(100, self._keep_alive),
                        max_keepalive_connections=self._keep_alive,
                        keepalive_expiry=KEEPALIVE_EXPIRY,
                    )
                    self._http = _cookieless_client(timeout=timeout, limits=limits)
                    if self._closed:  # used after close(): fail as a closed client does
                        self._http.close()
        return self._http

    @property
    def owns_http(self) -> bool:
        """Whether this transport makes (and closes) its own client, rather than one passed in."""
        return self._owns_http

    def keep_alive(self, connections: int) -> None:
        """Keep up to ``connections`` idle connections open (before the client is made).

        ``refresh --all --concurrency N`` calls it with N. httpx keeps 20 by default and, once
        a pool holds more than that, closes every connection that goes idle (httpcore counts
        all of the pool's connections, not only the idle ones, against the limit): at
        ``--concurrency 32`` each refresh could open a new TCP connection.
        """
        if self._http is not None and self._owns_http:
            raise RuntimeError("keep_alive() must be called before the HTTP client is made")
        self._keep_alive = max(1, connections)

    def close(self) -> None:
        """Close the connection pool if this transport created it."""
        self._closed = True
        if self._owns_http and self._http is not None:
            self._http.close()


__all__ = [
    "API_KEEPALIVE_EXPIRY",
    "KEEPALIVE_EXPIRY",
    "Transport",
    "default_timeout",
    "defer_httpx_command_line",
]
