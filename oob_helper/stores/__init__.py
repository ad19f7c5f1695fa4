"""Token stores, chosen by URL: ``memory://``, ``sqlite:///PATH`` (OWNER: stores work)."""

from __future__ import annotations

from oob_helper.stores.base import TokenStore

__all__ = ["TokenStore"]
