"""The web helper's app factory: everything comes in as arguments, so a host app can mount it.

    app = create_app(helper, allowed_hosts=["shop.example.com", "*.example.org"])
    host = Starlette(routes=[Mount("/aweber", app=app)])

Links are built from the app's own route table plus the request's ``root_path``, so the pages
work at any mount path and behind a reverse proxy's path prefix.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from oob_helper.errors import ConfigurationError
from oob_helper.helper import OAuthHelper
from oob_helper.stores.base import TokenStore
from oob_helper.web import endpoints
from oob_helper.web.csrf import SECRET_KEY_SETTING, Signer, generate_secret_key
from oob_helper.web.headers import SecurityHeadersMiddleware
from oob_helper.web.hosts import LOOPBACK_HOSTS, BadHost, HostAllowList, is_loopback, normalise_host
from oob_helper.web.pages import Renderer, make_environment
from oob_helper.web.problems import PageError, unexpected_problem
from oob_helper.web.ratelimit import SubmissionLimiter

log = logging.getLogger("oob_helper.web")

InstallResolver = Callable[[Request], "str | Awaitable[str | None] | None"]
# is_admin(request, install): may this request's user manage that install? (sync or async)
AdminCheck = Callable[[Request, str], "bool | Awaitable[bool]"]
# The one-argument form of earlier releases, accepted for one release with a DeprecationWarning.
LegacyAdminCheck = Callable[[Request], "bool | Awaitable[bool]"]
STATIC_DIR = Path(__file__).resolve().parent / "static"
# The facade's rule for install names: 1-200 printable characters, no surrounding spaces.
_INSTALL_KEY = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


class WebContext:
    """Everything the endpoints share for one app instance (no module-level state)."""

    def __init__(
        self,
        *,
        helper: OAuthHelper,
        signer: Signer,
        renderer: Renderer,
        limiter: SubmissionLimiter,
        clock: Callable[[], float],
        install_resolver: InstallResolver | None,
        allowed_hosts: HostAllowList | None,
        is_admin: AdminCheck | None,
        allow_remote: bool,
        https: bool | None,
        cookie_name: str,
    ) -> None:
        self.helper = helper
        self.signer = signer
        self.renderer = renderer
        self.limiter = limiter
        self.clock = clock
        self._install_resolver = install_resolver
        self._allowed_hosts = allowed_hosts
        self._is_admin = is_admin
        self._allow_remote = allow_remote
        self._https = https
        self.cookie_name = cookie_name
        self.router: Any = None  # set by create_app once the app exists

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cookie_name={self.cookie_name!r})"

    async def resolve_install(self, request: Request) -> str:
        """The install key for this request, or a 400 page for hosts the operator did not allow."""
        scheme = request.url.scheme
        if self._allowed_hosts is not None:
            try:
                host = normalise_host(request.headers.get("host"), scheme)
            except BadHost as exc:
                raise _bad_host(str(exc)) from None
            if not self._allowed_hosts.allows(host):
                raise _bad_host("this host name is not one the helper is configured to serve")
            if self._install_resolver is None:
                return host.key
        if self._install_resolver is not None:
            key = self._install_resolver(request)
            if inspect.isawaitable(key):
                key = await key
            if not isinstance(key, str) or not _INSTALL_KEY.fullmatch(key) or key != key.strip():
                raise _bad_host("the site this request belongs to could not be determined")
            return key
        raise _bad_host("no host name allow-list is configured")  # unreachable by construction

    async def check_admin(self, request: Request, install: str) -> bool:
        """The host app's admin hook for ``install``, or the standalone default (loopback clients
        only)."""
        if self._is_admin is not None:
            verdict = self._is_admin(request, install)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return verdict is True
        if self._allow_remote:
            return True
        return is_loopback(request.client.host if request.client else None)

    def is_https(self, request: Request) -> bool:
        """Whether cookies must be Secure (explicit, or the request's scheme)."""
        return self._https if self._https is not None else request.url.scheme == "https"

    def path_for(self, request: Request, name: str, **params: Any) -> str:
        """The path of one of this app's routes, under the mount path or proxy prefix."""
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return root + str(self.router.url_path_for(name, **params))

    def set_session_cookie(self, request: Request, response: Response, session_id: str) -> None:
        """Host-only, HttpOnly, SameSite=Lax, Secure under https, scoped to the mount path."""
        self._set_cookie(request, response, self.cookie_name, session_id)

    @property
    def flash_cookie_name(self) -> str:
        """The cookie that carries an action's signed outcome to the status page."""
        return self.cookie_name + "_flash"

    def set_flash_cookie(self, request: Request, response: Response, flash: str) -> None:
        """The session cookie's attributes, for a value the next status page reads once."""
        self._set_cookie(request, response, self.flash_cookie_name, flash)

    def clear_flash_cookie(self, request: Request, response: Response) -> None:
        """Forget the flash once shown."""
        response.delete_cookie(
            self.flash_cookie_name,
            path=self._cookie_path(request),
            httponly=True,
            samesite="lax",
            secure=self.is_https(request),
        )

    def _cookie_path(self, request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/") or "/"

    def _set_cookie(self, request: Request, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            path=self._cookie_path(request),
            httponly=True,
            samesite="lax",
            secure=self.is_https(request),
        )

    def error_response(
        self, request: Request, problem: PageError, *, csrf_token: str | None = None
    ) -> Response:
        """The error page for ``problem`` (``csrf_token`` for the forms it may offer)."""
        context = {
            "problem": problem,
            "path": lambda name, **params: self.path_for(request, name, **params),
            "csrf_token": csrf_token,
        }
        return self.renderer.render(
            "error.html", context, status_code=problem.status_code, headers=problem.headers
        )


async def favicon(request: Request) -> Response:
    """The icon browsers ask for on their own (the pages also link it under the mount path)."""
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/vnd.microsoft.icon")


def _bad_host(why: str) -> PageError:
    return PageError(
        400,
        "This site is not served here",
        f"The request was refused: {why}.",
        "Open the helper at the address the operator configured; operators add host names to "
        "the allow-list (allowed_hosts / --allowed-host).",
    )


def _admin_check(is_admin: AdminCheck | LegacyAdminCheck | None) -> AdminCheck | None:
    """``is_admin`` as a two-argument check, wrapping (with a warning) the deprecated form."""
    if is_admin is None or _positional_arity(is_admin) >= 2:
        return is_admin  # type: ignore[return-value]
    warnings.warn(
        "is_admin(request) is deprecated: accept the install too, is_admin(request, install), and "
        "check that the user administers that install; the one-argument form goes in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
    legacy: LegacyAdminCheck = is_admin  # type: ignore[assignment]
    return lambda request, install: legacy(request)


def _positional_arity(check: Callable[..., object]) -> int:
    try:
        parameters = inspect.signature(check).parameters.values()
    except (TypeError, ValueError):
        return 2  # no signature to read (a builtin): assume the documented form
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def resolve_secret_key(secret_key: str | None, helper: OAuthHelper, store: TokenStore | None) -> str:
    """The argument, else the settings' key, else one generated once and kept in the store."""
    if secret_key:
        return secret_key
    settings = getattr(helper, "settings", None)
    configured = getattr(settings, "secret_key", None)
    if isinstance(configured, str) and configured:
        return configured
    store = store if store is not None else getattr(helper, "store", None)
    if store is None:
        raise ConfigurationError(
            "the web helper needs a signing key: pass secret_key=, set OOB_HELPER_SECRET_KEY, "
            "or give create_app the store to keep a generated key in (store=)"
        )
    return str(store.set_setting_if_absent(SECRET_KEY_SETTING, generate_secret_key()))


def _display_name(helper: OAuthHelper) -> str:
    provider = getattr(getattr(helper, "settings", None), "provider", None)
    name = getattr(provider, "display_name", None)
    return name if isinstance(name, str) and name else "AWeber"


def _attempt_ttl(helper: OAuthHelper) -> float:
    ttl = getattr(getattr(helper, "settings", None), "attempt_ttl", None)
    return float(ttl) if isinstance(ttl, int | float) and ttl > 0 else 600.0


def create_app(
    helper: OAuthHelper,
    *,
    secret_key: str | None = None,
    install_resolver: InstallResolver | None = None,
    allowed_hosts: Iterable[str] | None = None,
    is_admin: AdminCheck | LegacyAdminCheck | None = None,
    templates_dir: str | Path | None = None,
    https: bool | None = None,
    store: TokenStore | None = None,
    clock: Callable[[], float] | None = None,
    allow_remote: bool = False,
    rate_limit: int = 10,
    rate_window: float = 60.0,
    csrf_max_age: float = 3600.0,
    display_name: str | None = None,
    cookie_name: str = "oob_helper_session",
    debug: bool = False,
) -> Starlette:
    """Build the web helper for ``helper``'s provider and store.

    - ``install_resolver(request)`` names the install (sync or async); by default the install is
      the request's normalised Host, which must match ``allowed_hosts`` (names, ``*.suffix``,
      optional ``:port``; default: loopback names only).
    - ``is_admin(request, install)`` is the host app's access check (sync or async): may this
      request's user manage this install? With wildcard ``allowed_hosts`` it must check the
      install, or the admin of one site could manage another by sending its Host. Without it
      only loopback clients are served unless ``allow_remote``. (The one-argument form
      ``is_admin(request)`` still works for this release, with a DeprecationWarning.)
    - ``secret_key`` signs forms; without it the settings' key or one kept in the store is used.
    - ``https`` forces Secure cookies on or off (default: the request's scheme).
    - ``clock`` is the time source for token ages and the rate limit (tests move it).
    """
    now = clock or time.time
    hosts: HostAllowList | None
    if allowed_hosts is not None:
        hosts = HostAllowList(allowed_hosts)
    elif install_resolver is None:
        hosts = HostAllowList(LOOPBACK_HOSTS)
    else:
        hosts = None  # the host app names installs and checks its own hosts
    signer = Signer(
        resolve_secret_key(secret_key, helper, store),
        clock=now,
        csrf_max_age=csrf_max_age,
        attempt_max_age=_attempt_ttl(helper),
    )
    renderer = Renderer(make_environment(templates_dir), display_name=display_name or _display_name(helper))
    web = WebContext(
        helper=helper,
        signer=signer,
        renderer=renderer,
        limiter=SubmissionLimiter(now, limit=rate_limit, window=rate_window),
        clock=now,
        install_resolver=install_resolver,
        allowed_hosts=hosts,
        is_admin=_admin_check(is_admin),
        allow_remote=allow_remote,
        https=https,
        cookie_name=cookie_name,
    )
    routes = [
        Route("/", endpoints.status_page, methods=["GET"], name="status"),
        Route("/connect", endpoints.connect_page, methods=["GET"], name="connect"),
        Route("/code", endpoints.submit_code, methods=["POST"], name="submit_code"),
        Route("/refresh", endpoints.refresh, methods=["POST"], name="refresh"),
        Route("/disconnect", endpoints.confirm_disconnect, methods=["GET"], name="confirm_disconnect"),
        Route("/disconnect", endpoints.disconnect, methods=["POST"], name="disconnect"),
        Route("/favicon.ico", favicon, methods=["GET"], name="favicon"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if status == 405:
            problem = PageError(
                405,
                "This action only works from its button",
                "Refreshing, disconnecting and submitting a code change things, so they are only "
                "accepted from the page's forms (POST), never from a link.",
                "Go back to the status page and use the button there.",
                headers=headers,
            )
        elif status == 404:
            problem = PageError(
                404, "Page not found", "There is no such page here.", "Go back to the status page."
            )
        else:
            log.error("unexpected error in the web helper", exc_info=exc)
            problem = unexpected_problem()
        return web.error_response(request, problem)

    app = Starlette(
        debug=debug,
        routes=routes,
        middleware=[Middleware(SecurityHeadersMiddleware)],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    web.router = app.router
    app.state.oob_web = web
    return app
