"""The QA dashboard at ``/_mock/`` (HTML, forms with CSRF tokens)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes(control_token: str | None) -> list[BaseRoute]:
    """Dashboard routes."""
    return []
