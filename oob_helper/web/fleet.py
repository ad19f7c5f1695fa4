"""The operator's fleet page: every install's health on one paged, filterable page.

    app = fleet_app(helper, authorize=lambda request: is_operator(request.user))
    host = Starlette(routes=[Mount("/ops/aweber", app=fleet_app(...)), ...])

Separate from the per-site pages on purpose: it has its own authorization hook (the operator
of many sites is not the admin of one), and it only reads (GET, no forms that change anything,
so no CSRF token to carry). Without ``authorize`` only loopback clients are served, as the
per-site app does. Each row links to the install's own page through ``site_url(install)``
(default: ``https://INSTALL/`` for installs named by their domain, as ``oob-helper serve`` does).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from oob_helper.fleet import STATES, BadQuery, FleetQuery, fleet_page
from oob_helper.helper import OAuthHelper
from oob_helper.stores._common import all_records
from oob_helper.web.headers import SecurityHeadersMiddleware
from oob_helper.web.hosts import is_loopback
from oob_helper.web.pages import STATE_LABELS, Renderer, format_duration, format_time, make_environment
from oob_helper.web.problems import PageError

log = logging.getLogger("oob_helper.web")

# authorize(request): may this request's user see every install? (sync or async)
FleetAuthorize = Callable[[Request], "bool | Awaitable[bool]"]
STATIC_DIR = Path(__file__).resolve().parent / "static"


def default_site_url(install: str) -> str:
    """``https://INSTALL/``: the install's own page when installs are named by their domain."""
    return f"https://{install}/"


def fleet_app(
    helper: OAuthHelper,
    *,
    authorize: FleetAuthorize | None = None,
    site_url: Callable[[str], str] = default_site_url,
    page_size: int = 50,
    scan_limit: int = 5000,
    clock: Callable[[], float] | None = None,
    templates_dir: str | Path | None = None,
    display_name: str | None = None,
    debug: bool = False,
) -> Starlette:
    """The fleet page for ``helper``'s store, as an app to mount (read-only)."""
    now = clock or time.time
    renderer = Renderer(
        make_environment(templates_dir), display_name=display_name or helper.provider.display_name
    )

    def path(request: Request, name: str, **params: Any) -> str:
        # Under the mount path or a proxy's prefix, like the per-site pages' links.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return root + str(app.router.url_path_for(name, **params))

    def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
        values = {"path": lambda name, **params: path(request, name, **params), "show_back": False, **context}
        return renderer.render(template, values, status_code=status_code)

    def problem_page(request: Request, problem: PageError) -> Response:
        return page(request, "error.html", {"problem": problem}, status_code=problem.status_code)

    async def allowed(request: Request) -> bool:
        if authorize is None:
            return is_loopback(request.client.host if request.client else None)
        verdict = authorize(request)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        return bool(verdict)

    async def fleet(request: Request) -> Response:
        if not await allowed(request):
            return problem_page(
                request,
                PageError(
                    403,
                    "Not allowed",
                    "This page lists every site's connection; this request is not from an operator.",
                    "Sign in as an operator, or open it from the machine it runs on.",
                ),
            )
        try:
            query = FleetQuery.parse(request.query_params, default_limit=page_size)
        except BadQuery as exc:
            return problem_page(
                request,
                PageError(
                    400, "That filter cannot be used", str(exc), "Use the page's own filters and links."
                ),
            )
        at = now()
        lifetime = helper.records.refresh_token_lifetime
        records = all_records(helper.store, query.after)
        result = fleet_page(
            records, query, at, scan_limit=scan_limit, lifetime=lifetime, location=helper.records.location
        )
        here = path(request, "fleet")

        def link(**changes: str) -> str:
            params = query.params(**changes)
            return here + ("?" + urlencode(params) if params else "")

        rows = [
            {
                "install": row.install,
                "site_url": site_url(row.install),
                "state": row.state,
                "state_label": STATE_LABELS.get(row.state, row.state),
                "account": row.account,
                "expiry": _expiry(row.expires_at, at),
                "last_refresh": format_time(row.last_refresh_at),
                "problem": row.problem,
                "problem_since": format_time(row.problem_since) if row.problem_since else None,
                "lapses": format_time(row.refresh_token_lapses_at) if row.refresh_token_lapses_at else "—",
            }
            for row in result.rows
        ]
        context = {
            "query": query,
            "rows": rows,
            "states": [(state, STATE_LABELS[state]) for state in STATES],
            "next_link": link(after=result.next_after) if result.next_after else None,
            "first_link": link(after="") if query.after else None,
            "stopped_early": result.stopped_early,
            "scanned": result.scanned,
        }
        return page(request, "fleet.html", context)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            problem = PageError(404, "Page not found", "There is no such page here.", "Go to the fleet page.")
        elif status == 405:
            problem = PageError(405, "Not allowed here", "This page only reads.", "Use the page's links.")
        else:
            log.error("unexpected error in the fleet page", exc_info=exc)
            problem = PageError(
                500,
                "Something went wrong",
                "The page could not be shown; nothing was changed.",
                "Reload the page; if it keeps failing, check the server's log.",
            )
        return problem_page(request, problem)

    routes = [
        Route("/", fleet, methods=["GET"], name="fleet"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        debug=debug,
        routes=routes,
        middleware=[Middleware(SecurityHeadersMiddleware)],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    return app


def _expiry(expires_at: float | None, now: float) -> str:
    if expires_at is None:
        return "unknown"
    left = expires_at - now
    return f"in {format_duration(left)}" if left > 0 else f"expired {format_duration(left)} ago"


__all__ = ["FleetAuthorize", "default_site_url", "fleet_app"]
