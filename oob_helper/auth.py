"""httpx.Auth that keeps an install's token fresh (OWNER: refresh work).

Bearer header; proactive refresh before expiry; after a 401 (AWeber's ``invalid_token`` body or
its error envelope), one refresh and one retry. AWeber's 403 "Rate Limit Error" is not a reason
to refresh. Works for sync and async clients.
"""

from __future__ import annotations

import httpx

from oob_helper.refresh import RefreshCoordinator


class OAuthHelperAuth(httpx.Auth):
    """Auth flow for one install, backed by the shared refresh coordinator."""

    requires_response_body = True

    def __init__(self, coordinator: RefreshCoordinator, install: str) -> None:
        self.coordinator = coordinator
        self.install = install
