"""The authorization server's error types, shared by the state and the HTTP handlers.

Each carries the RFC 6749 error code (``error``), a human ``description`` naming the problem
and the fix, and the HTTP ``status`` the handlers answer with. No secret ever goes into a
description.
"""

from __future__ import annotations

from mock_server.verdicts import Verdict, plain


class OAuthError(Exception):
    """An OAuth 2 error: RFC 6749 ``error`` code, description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class AuthorizeError(OAuthError):
    """A bad authorization request.

    ``redirect_uri`` is set only once the client and its redirect URI have been validated and
    the URI is not the out-of-band one: only then may the error travel back by redirect
    (RFC 6749 section 4.1.2.1); otherwise the user sees an error page.
    """

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(error, description, status)
        self.redirect_uri = redirect_uri
        self.state = state


class TokenError(OAuthError):
    """A token or revocation endpoint error (RFC 6749 section 5.2).

    ``basic_challenge`` asks the handler for ``WWW-Authenticate: Basic`` (a 401 after the
    client tried HTTP Basic, RFC 6749 section 5.2 ``invalid_client``). ``verdict`` explains
    the refusal in the event log (never on the wire); without one, the error is the reason.
    """

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        *,
        basic_challenge: bool = False,
        verdict: Verdict | None = None,
    ) -> None:
        super().__init__(error, description, status)
        self.basic_challenge = basic_challenge
        self.verdict = verdict or plain(error, description)
