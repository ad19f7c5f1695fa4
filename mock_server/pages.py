"""HTML pages of the authorization server (login and consent, out-of-band code, errors).

Templates live in ``templates/``; the stylesheet and the Copy button's script live in
``static/`` and are inlined, each allowed by its SHA-256 hash in the page's
Content-Security-Policy, so no ``'unsafe-inline'`` and no extra request is needed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

HERE = Path(__file__).resolve().parent
_CSS = (HERE / "static" / "mock.css").read_text(encoding="utf-8")
_COPY_JS = (HERE / "static" / "copy.js").read_text(encoding="utf-8")

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=False,
)

PAGE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


STYLE_HASH = _hash(_CSS)
SCRIPT_HASH = _hash(_COPY_JS)


def page_csp(form_targets: Iterable[str] = ()) -> str:
    """The CSP of a page: nothing but our own hashed style and script, never framed.

    ``form_targets`` are origins the login form may end up at: Chromium applies
    ``form-action`` to the redirect that follows the form post.
    """
    targets = " ".join(["'self'", *form_targets])
    return (
        f"default-src 'none'; style-src {STYLE_HASH}; script-src {SCRIPT_HASH}; "
        f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


def render(
    name: str,
    *,
    provider: str,
    status: int = 200,
    form_targets: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a template into a no-store HTML response with its own CSP."""
    html = _env.get_template(name).render(provider=provider, css=_CSS, copy_js=_COPY_JS, **context)
    all_headers = {**PAGE_HEADERS, "Content-Security-Policy": page_csp(form_targets), **(headers or {})}
    return HTMLResponse(html, status_code=status, headers=all_headers)


FAVICON = HERE / "static" / "favicon.ico"


async def favicon(request: Request) -> Response:
    """The icon browsers fetch on their own; without it every page logged a 404 in the console."""
    return FileResponse(FAVICON, media_type="image/vnd.microsoft.icon")
