"""The control plane under /_mock/: JSON API and QA dashboard. OWNER: control-plane helper."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes(control_token: str | None) -> list[BaseRoute]:
    """Control API and dashboard routes, guarded by the control token when one is set."""
    return []
