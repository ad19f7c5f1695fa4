"""The pages: status, connect, code submission, refresh, disconnect (and its confirmation).

Thin: each handler checks the host, the admin, the CSRF token, then makes one facade call in a
worker thread and turns its result or error into a page (``problems.py``). A successful POST
answers 303 to the status page (post/redirect/get) with its outcome in a signed flash cookie.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from oob_helper import errors
from oob_helper.web.csrf import TokenRejected, new_session_id
from oob_helper.web.pages import BannerView, StatusView
from oob_helper.web.problems import (
    PageError,
    attempt_problem,
    csrf_problem,
    facade_problem,
    unexpected_problem,
)

if TYPE_CHECKING:
    from oob_helper.web.app import WebContext

log = logging.getLogger("oob_helper.web")

MAX_FORM_BYTES = 16 * 1024
MAX_PASTE_CHARS = 4096
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Visit:
    """One request's install and browser session (``new_session``: the cookie must be set)."""

    request: Request
    web: WebContext
    install: str
    session_id: str
    new_session: bool
    form: dict[str, str]


def page(*, post: bool) -> Callable[[Callable[[Visit], Awaitable[Response]]], Endpoint]:
    """Wrap a handler: resolve the install, check the admin (and CSRF for POSTs), map errors."""

    def decorate(handler: Callable[[Visit], Awaitable[Response]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            web: WebContext = request.app.state.oob_web
            visit: Visit | None = None
            try:
                visit = await _visit(request, web, post=post)
                response = await handler(visit)
            except PageError as problem:
                token = None
                if visit is not None and not visit.new_session:
                    token = web.signer.csrf_token(visit.install, visit.session_id)
                return web.error_response(request, problem, csrf_token=token)
            except Exception:
                # A bug, not bad input: log it server-side, show a page without the traceback.
                log.exception("unexpected error in %s", handler.__name__)
                return web.error_response(request, unexpected_problem())
            if visit.new_session:
                web.set_session_cookie(request, response, visit.session_id)
            return response

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate


async def _visit(request: Request, web: WebContext, *, post: bool) -> Visit:
    install = await web.resolve_install(request)
    if not await web.check_admin(request, install):
        raise PageError(
            403,
            "Only site administrators can manage this connection",
            "This page is for the site's administrators.",
            "Sign in as an administrator, or open the page from the server itself "
            "(the standalone helper only answers requests from this machine unless configured otherwise).",
        )
    cookie = request.cookies.get(web.cookie_name)
    session_ok = cookie is not None and _SESSION_ID.match(cookie) is not None
    form: dict[str, str] = {}
    if post:
        form = await _read_form(request)
        try:
            web.signer.check_csrf(form.get("csrf_token"), install, cookie if session_ok else None)
        except TokenRejected as rejected:
            raise csrf_problem(rejected.reason) from None
    if session_ok and cookie is not None:
        return Visit(request, web, install, cookie, False, form)
    return Visit(request, web, install, new_session_id(), True, form)


async def _read_form(request: Request) -> dict[str, str]:
    """The urlencoded body, refusing anything over MAX_FORM_BYTES before reading it all."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type and request.headers.get("content-length", "0") == "0":
        return {}  # an empty POST: the CSRF check then refuses it
    if content_type != "application/x-www-form-urlencoded":
        raise PageError(
            415,
            "The form was sent in an unexpected format",
            "This page only accepts the forms it shows.",
            "Go back, reload the page and submit the form again.",
        )
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise _too_large()
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise PageError(
            400,
            "The form could not be read",
            "The submitted form was not valid text.",
            "Go back, reload the page and submit the form again.",
        ) from None
    return {name: values[0] for name, values in parsed.items()}


def _too_large() -> PageError:
    return PageError(
        413,
        "What was submitted is far too long",
        "An authorization code is a short line of letters and digits.",
        "Copy only the code from the AWeber page (use its Copy button) and paste it again.",
    )


def _status_context(visit: Visit, record: Any) -> dict[str, Any]:
    web = visit.web
    return {
        "status": StatusView.of(record, web.clock()),
        "banner": None,
        "csrf_token": web.signer.csrf_token(visit.install, visit.session_id),
        "install": visit.install,
        "path": lambda name, **params: web.path_for(visit.request, name, **params),
    }


async def _render_status(
    visit: Visit, *, connect: bool | None = None, outcome: str | None = None, back: bool = False
) -> Response:
    web = visit.web
    # Observing tells a refresh-token warning that came due (once); the banner shows it.
    record = await _call(web, web.helper.observe, visit.install)
    context = _status_context(visit, record)
    banner = BannerView.of(record, web.helper.health(record))
    context["banner"] = banner
    needs_connect = record.state != "connected" or (banner is not None and banner.action == "connect")
    show_connect = needs_connect if connect is None else connect
    context["connect"] = await _start_attempt(visit) if show_connect else None
    notice, warning = _notice(outcome, record, web.renderer.display_name)
    context["notice"] = notice
    context["notice_class"] = "notice warning" if warning else "notice"
    context["show_back"] = back
    return web.renderer.render("status.html", context)


def _notice(outcome: str | None, record: Any, provider: str) -> tuple[str | None, bool]:
    """The status page's line about the action that redirected here (and whether it warns)."""
    if outcome == "connected":
        return f"Connected to {record.account_name or record.account_id or 'your account'}.", False
    if outcome == "reauthorization_required":
        return f"{provider} no longer accepts this connection. Connect again below.", True
    return OUTCOMES.get(outcome or ""), False


# What each action's redirect says on the status page (``_notice`` words the others).
OUTCOMES = {
    "refreshed": "The access token was refreshed.",
    "skipped": "The access token is still fresh; nothing to do.",
    "disconnected": "Disconnected. The token was revoked and forgotten.",
    "forgotten": "Disconnected. The connection was forgotten here; the provider may still honour "
    "the token until it expires.",
    "forgotten_copy": "Forgotten here only: this connection was copied from another store, so "
    "its grant (the original site's) was not revoked.",
}


def _done(visit: Visit, outcome: str) -> Response:
    """Post/redirect/get: back to the status page, the outcome in a short-lived signed cookie.

    A reload then shows the status page again instead of offering to resubmit the form, and
    the address bar never carries the outcome (or anything else).
    """
    web = visit.web
    response = RedirectResponse(web.path_for(visit.request, "status"), status_code=303)
    web.set_flash_cookie(visit.request, response, web.signer.flash(outcome, visit.install, visit.session_id))
    return response


async def _start_attempt(visit: Visit) -> dict[str, str]:
    start = await _call(visit.web, visit.web.helper.start_authorization, visit.install)
    ref = visit.web.signer.attempt_ref(start.attempt.attempt_id, visit.install, visit.session_id)
    return {"authorize_url": start.authorize_url, "attempt": ref}


async def _call(web: WebContext, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking facade call in a worker thread; its errors become pages."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except errors.OobHelperError as exc:
        raise facade_problem(exc, web.renderer.display_name) from None


@page(post=False)
async def status_page(visit: Visit) -> Response:
    """The install's status, with the connect form when it is not connected."""
    web = visit.web
    flash = visit.request.cookies.get(web.flash_cookie_name)
    outcome = None if visit.new_session else web.signer.check_flash(flash, visit.install, visit.session_id)
    response = await _render_status(visit, outcome=outcome)
    if flash is not None:
        web.clear_flash_cookie(visit.request, response)  # shown once: a reload does not repeat it
    return response


@page(post=False)
async def connect_page(visit: Visit) -> Response:
    """Start a new attempt (also to switch accounts) and show the connect form."""
    return await _render_status(visit, connect=True, back=True)


@page(post=False)
async def confirm_disconnect(visit: Visit) -> Response:
    """Ask before disconnecting: the status page's Disconnect only leads here."""
    web = visit.web
    record = await _call(web, web.helper.status, visit.install)
    if record.state == "not_connected":
        raise facade_problem(errors.NotConnected(visit.install), web.renderer.display_name)
    context = _status_context(visit, record)
    context["show_back"] = False  # its Cancel button goes back
    return web.renderer.render("disconnect.html", context)


@page(post=True)
async def submit_code(visit: Visit) -> Response:
    """Exchange the pasted code (or redirect URL) for tokens."""
    web = visit.web
    try:
        attempt_id = web.signer.check_attempt_ref(visit.form.get("attempt"), visit.install, visit.session_id)
    except TokenRejected as rejected:
        raise attempt_problem(rejected.reason) from None
    retry_after = web.limiter.hit(visit.install)
    if retry_after is not None:
        raise PageError(
            429,
            "Too many codes submitted",
            f"This site accepts at most {web.limiter.limit} codes a minute.",
            f"Wait {int(retry_after) + 1} seconds, then start again.",
            headers={"Retry-After": str(int(retry_after) + 1)},
        )
    pasted = visit.form.get("code", "").strip()
    if not pasted:
        raise PageError(
            400,
            "No authorization code was pasted",
            "The Authorization code field was empty.",
            f"Open Connect to {web.renderer.display_name}, allow access, copy the code shown, "
            "paste it into the field and press Connect.",
            retry=True,
        )
    if len(pasted) > MAX_PASTE_CHARS:
        raise _too_large()
    await _call(web, web.helper.complete_authorization, visit.install, attempt_id, pasted)
    return _done(visit, "connected")


@page(post=True)
async def refresh(visit: Visit) -> Response:
    """Refresh the install's access token now."""
    # A person pressed "Refresh now": the install's back-off does not hold it.
    outcome = await _call(
        visit.web, visit.web.helper.refresh, visit.install, force=True, override_backoff=True
    )
    if outcome.result in ("refreshed", "skipped", "reauthorization_required"):
        return _done(visit, outcome.result)
    raise PageError(
        502,
        "The token could not be refreshed",
        f"{visit.web.renderer.display_name} answered: {outcome.error or 'an unknown error'}.",
        "The current token is kept. Try again in a minute.",
    )


@page(post=True)
async def disconnect(visit: Visit) -> Response:
    """Revoke at the provider, then forget the install (``force``: forget even if revoke fails)."""
    force = visit.form.get("force") == "1"
    try:
        forgotten = await _call(visit.web, visit.web.helper.disconnect, visit.install, force=force)
    except PageError as problem:
        if problem.status_code in (502, 504):
            problem.hint = (
                "The connection is kept. Try again later, or forget it here without revoking "
                "(the token then stays valid at the provider until it expires)."
            )
            problem.offer_force_disconnect = True
        raise
    if visit.web.helper.is_copy(forgotten):
        return _done(visit, "forgotten_copy")
    return _done(visit, "forgotten" if force else "disconnected")
