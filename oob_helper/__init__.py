"""Connect self-hosted software to AWeber-style OAuth 2 with the out-of-band flow, and keep it connected."""

from __future__ import annotations

from oob_helper.tokens import InstallRecord, PendingAttempt, Token

__all__ = ["InstallRecord", "PendingAttempt", "Token"]
