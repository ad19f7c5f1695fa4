"""The QA dashboard at ``/_mock/``: clients, users, live tokens, the clock and the request log.

Pages are Jinja2 templates (autoescaped) with no script at all; the one inline style block is
allowed by its SHA-256 hash in the Content-Security-Policy. Every form carries a CSRF token
bound to a per-browser cookie, and every POST answers with a 303 back to the dashboard.

Every POST from another origin (``Origin`` not the mock's own, or ``Sec-Fetch-Site`` cross-site
or same-site) is refused with 403 before anything else, on top of the CSRF token; the pages use
``Referrer-Policy: same-origin`` so that the browser sends their own origin with their forms
(under ``no-referrer`` it sends ``Origin: null``).

With a control token set, a browser proves it knows the token once, by the login form
(``POST /_mock/login``) or by opening ``/_mock/?token=<control token>`` (which redirects to
``/_mock/`` so the token leaves the address bar); either sets an HttpOnly, SameSite=Strict
session cookie scoped to ``/_mock``, valid until the server restarts. The bearer header works too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mock_server import dashboard_webhooks
from mock_server.control import foreign_browser
from mock_server.control_sandboxes import describe
from mock_server.faults import GRANT_TYPES, METHODS, FaultSpecError
from mock_server.webhook_records import WebhookError
from mock_server.world import DEFAULT_ID, sandbox_of, state_of

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("mock_server", "templates"),
    autoescape=True,
)
_CSS = _ENV.get_template("dashboard_style.html").render()
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SESSION_COOKIE = "mock_dashboard"
CSRF_COOKIE = "mock_csrf"
# "/": one login and one CSRF cookie serve the root dashboard and every sandbox's
# (/sandbox/<id>/_mock/); both are HttpOnly and SameSite=Strict.
COOKIE_PATH = "/"


def _base(request: Request) -> str:
    """The world's prefix for links and redirects: "" or "/sandbox/<id>" (a live sandbox's id)."""
    base: str = request.scope.get("app_root_path", "")
    return base


MAX_EVENTS_SHOWN = 100
MAX_ADVANCE = 10 * 365 * 86400
NOTICES = {
    "advanced": "The clock moved.",
    "frozen": "The clock is frozen.",
    "running": "The clock runs again.",
    "expired": "The grant's access tokens expired.",
    "expiring": "The grant's access tokens will expire in the seconds given.",
    "lifetime": "The grant's refresh token has the seconds given to live.",
    "revoked": "The grant's tokens were revoked.",
    "reset": "The mock is back in its start state.",
    "faults": "Every fault was disarmed.",
    "fault": "The fault is armed.",
    **dashboard_webhooks.NOTICES,
}

Endpoint = Callable[[Request], Awaitable[Response]]


class FormError(Exception):
    """A dashboard form value that cannot be used; the message says which and why."""


def duration(seconds: float | None) -> str:
    """``1h 59m 58s`` style; ``never`` for None."""
    if seconds is None:
        return "never"
    if seconds <= 0:
        return "expired"
    whole = math.ceil(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def timestamp(unix: float | None) -> str:
    """A UTC time for people."""
    if unix is None:
        return "-"
    try:
        return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{unix:.0f}"


_ENV.filters["duration"] = duration
_ENV.filters["timestamp"] = timestamp


class Dashboard:
    """The dashboard's endpoints over one app's state; keys live as long as the server."""

    def __init__(self, control_token: str | None) -> None:
        self.control_token = control_token
        self._key = secrets.token_bytes(32)

    # -- authentication and CSRF --------------------------------------------------------------
    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def _token_ok(self, token: str) -> bool:
        assert self.control_token is not None
        return hmac.compare_digest(token.encode(), self.control_token.encode())

    def authorized(self, request: Request) -> bool:
        """Bearer header or a session cookie from the login (or none needed)."""
        if self.control_token is None:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._token_ok(value.strip()):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        expected = self._mac("session", self.control_token)
        return hmac.compare_digest(cookie.encode(), expected.encode())

    def _csrf_pair(self, request: Request) -> tuple[str, str]:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if len(nonce) < 32:
            nonce = secrets.token_urlsafe(32)
        return nonce, self._mac("csrf", nonce)

    def _check_csrf(self, request: Request, form: FormData) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        sent = form.get("csrf_token")
        if len(nonce) < 32 or not isinstance(sent, str):
            return False
        return hmac.compare_digest(sent.encode(), self._mac("csrf", nonce).encode())

    # -- responses ----------------------------------------------------------------------------
    def _page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        nonce, csrf = self._csrf_pair(request)
        html = _ENV.get_template(template).render(css=_CSS, csrf_token=csrf, base=_base(request), **context)
        response = HTMLResponse(html, status_code=status)
        response.set_cookie(CSRF_COOKIE, nonce, path=COOKIE_PATH, httponly=True, samesite="strict")
        _secure(response)
        return response

    def _login(self, request: Request, status: int = 401, message: str | None = None) -> HTMLResponse:
        return self._page(request, "dashboard_login.html", status, message=message)

    def _problem(self, request: Request, message: str, status: int = 400) -> HTMLResponse:
        return self._page(request, "dashboard_error.html", status, message=message)

    def _foreign(self, request: Request) -> HTMLResponse | None:
        foreign = foreign_browser(request)
        if foreign is None:
            return None
        message = f"Refused {foreign}: only the dashboard's own pages can use its forms."
        return self._problem(request, message, 403)

    # -- endpoints ----------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        """GET /_mock/: the dashboard (or the login form)."""
        if self.control_token is not None and "token" in request.query_params:
            if self._token_ok(request.query_params["token"]):
                return self._logged_in(request)
            return self._login(request, message="That control token is not right.")
        if not self.authorized(request):
            return self._login(request)
        state = state_of(request.scope)
        registry = request.app.state.sandboxes
        sandbox = sandbox_of(request.scope)
        # The root world lists every sandbox; a sandbox's page shows only itself.
        worlds = [describe(request, registry, s) for s in registry.list()] if sandbox == DEFAULT_ID else []
        snapshot = state.snapshot()
        grants: dict[str, dict[str, Any]] = {}
        for token in snapshot.get("tokens", []):
            grant = grants.setdefault(
                str(token.get("grant", token.get("token"))),
                {"id": token.get("grant"), "client_id": token.get("client_id"), "tokens": []},
            )
            grant["username"] = token.get("username")
            grant["tokens"].append(token)
        events = state.events.list()[-MAX_EVENTS_SHOWN:]
        events.reverse()
        notice = NOTICES.get(request.query_params.get("done", ""))
        return self._page(
            request,
            "dashboard.html",
            now=state.clock.now(),
            frozen=state.clock.frozen,
            profile=getattr(state.config, "profile", "aweber"),
            clients=snapshot.get("clients", []),
            users=snapshot.get("users", []),
            codes=snapshot.get("codes", []),
            grants=list(grants.values()),
            faults=state.faults.list(),
            fault_methods=sorted(METHODS),
            fault_grant_types=GRANT_TYPES,
            events=events,
            notice=notice,
            login_required=self.control_token is not None,
            webhooks=dashboard_webhooks.view(state, str(request.base_url)),
            sandbox=sandbox,
            sandboxes=worlds,
        )

    def _logged_in(self, request: Request) -> Response:
        assert self.control_token is not None
        response = RedirectResponse(f"{_base(request)}/_mock/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self._mac("session", self.control_token),
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
        )
        _secure(response)
        return response

    async def login(self, request: Request) -> Response:
        """POST /_mock/login: trade the control token for a session cookie."""
        if (refused := self._foreign(request)) is not None:
            return refused
        form = await request.form()
        if not self._check_csrf(request, form):
            return self._login(request, 403, "The form expired; please try again.")
        token = form.get("token")
        if self.control_token is None:
            return RedirectResponse(f"{_base(request)}/_mock/", status_code=303)
        if not isinstance(token, str) or not self._token_ok(token.strip()):
            return self._login(request, message="That control token is not right.")
        return self._logged_in(request)

    async def logout(self, request: Request) -> Response:
        """POST /_mock/logout: forget the session cookie."""
        if (refused := self._foreign(request)) is not None:
            return refused
        form = await request.form()
        if not self._check_csrf(request, form):
            return self._problem(request, "The form expired; go back to the dashboard and try again.", 403)
        response = RedirectResponse(f"{_base(request)}/_mock/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    def action(self, handler: Callable[[Any, FormData], str]) -> Endpoint:
        """A POST endpoint: check the session and CSRF, run ``handler``, go back with a notice."""

        async def endpoint(request: Request) -> Response:
            if (refused := self._foreign(request)) is not None:
                return refused
            if not self.authorized(request):
                return self._login(request)
            form = await request.form()
            if not self._check_csrf(request, form):
                return self._problem(
                    request, "The form expired; go back to the dashboard and try again.", 403
                )
            try:
                notice = handler(state_of(request.scope), form)
            except (FormError, WebhookError) as exc:
                return self._problem(request, str(exc))
            return RedirectResponse(f"{_base(request)}/_mock/?done={notice}", status_code=303)

        endpoint.__name__ = handler.__name__
        return endpoint


def _secure(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Not no-referrer: under it a browser sends "Origin: null" with the page's own forms.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def _field(form: FormData, name: str, label: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise FormError(f"{label} is missing.")
    return value.strip()


def advance(state: Any, form: FormData) -> str:
    """Advance the clock by the form's seconds."""
    text = _field(form, "seconds", "Seconds")
    try:
        seconds = float(text)
    except ValueError:
        raise FormError(f"Seconds must be a number, not {text[:40]!r}.") from None
    if not math.isfinite(seconds) or abs(seconds) > MAX_ADVANCE:
        raise FormError(f"Seconds must be a number between -{MAX_ADVANCE} and {MAX_ADVANCE}.")
    state.clock.advance(seconds)
    return "advanced"


def freeze(state: Any, form: FormData) -> str:
    """Freeze or unfreeze the clock."""
    frozen = form.get("frozen") == "true"
    state.clock.set(frozen=frozen)
    return "frozen" if frozen else "running"


def _seconds(form: FormData, name: str, label: str) -> float:
    text = _field(form, name, label)
    try:
        seconds = float(text)
    except ValueError:
        raise FormError(f"{label} must be a number, not {text[:40]!r}.") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_ADVANCE:
        raise FormError(f"{label} must be a number between 0 and {MAX_ADVANCE}.")
    return seconds


def expire(state: Any, form: FormData) -> str:
    """Expire one grant's access tokens now, or in the form's seconds."""
    grant = _field(form, "grant", "The grant")
    given = form.get("in_seconds")
    in_seconds = (
        _seconds(form, "in_seconds", "In seconds") if isinstance(given, str) and given.strip() else 0.0
    )
    state.expire_tokens(grant=grant, in_seconds=in_seconds)
    return "expiring" if in_seconds else "expired"


def refresh_lifetime(state: Any, form: FormData) -> str:
    """Give one grant's refresh token the form's seconds to live."""
    grant = _field(form, "grant", "The grant")
    state.set_refresh_lifetime(_seconds(form, "seconds", "Refresh lifetime seconds"), grant=grant)
    return "lifetime"


def revoke(state: Any, form: FormData) -> str:
    """Revoke one grant's tokens."""
    state.revoke_tokens(grant=_field(form, "grant", "The grant"))
    return "revoked"


def reset(state: Any, form: FormData) -> str:
    """Back to the start state."""
    state.reset()
    return "reset"


def _whole(form: FormData, name: str, label: str) -> int:
    text = _field(form, name, label)
    if not text.isdigit() or len(text) > 9:
        raise FormError(f"{label} must be a whole number, not {text[:40]!r}.")
    return int(text)


def arm_fault(state: Any, form: FormData) -> str:
    """Arm a fault from the form: its target, which calls, and its kind (``mock_server.faults``)."""
    target = "path_prefix" if form.get("match") == "prefix" else "path"
    spec: dict[str, object] = {target: _field(form, "path", "The path")}
    for name in ("method", "grant_type", "client_id"):
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            spec[name] = value.strip()
    spec["nth"] = _whole(form, "nth", "From the nth match")
    spec["count"] = _whole(form, "count", "Calls")
    kind = form.get("kind")
    if kind == "status":
        spec["status"] = _whole(form, "value", "The status")
    elif kind == "delay":
        spec["delay_ms"] = _whole(form, "value", "The delay (ms)")
    elif kind == "drop":
        spec["drop"] = True
    else:
        raise FormError("The fault must be status, delay or drop.")
    if form.get("after_work") == "true":
        spec["after_work"] = True
    try:
        state.faults.add(spec)
    except FaultSpecError as exc:
        raise FormError(str(exc)) from None
    return "fault"


def clear_faults(state: Any, form: FormData) -> str:
    """Disarm every fault."""
    state.faults.reset()
    return "faults"
