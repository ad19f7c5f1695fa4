"""The embeddable web helper: a Starlette app a host mounts at any path (see README.md here).

A shell: it translates requests into ``OAuthHelper`` calls and errors into pages, and holds
no protocol logic.
"""

from __future__ import annotations

from oob_helper.web.app import create_app

__all__ = ["create_app"]
