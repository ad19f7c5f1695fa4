"""Every failure as a page: what happened, what to do, and the right HTTP status.

Provider text (``error_description``) is shown as data; the templates escape it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oob_helper import errors


@dataclass
class PageError(Exception):
    """A failure to show as the error page (``retry``: offer a fresh connect link)."""

    status_code: int
    title: str
    message: str
    hint: str
    headers: dict[str, str] = field(default_factory=dict)
    retry: bool = False
    offer_force_disconnect: bool = False

    def __str__(self) -> str:
        return f"{self.status_code} {self.title}"


_CSRF_MESSAGES = {
    "missing": "The form arrived without its security token.",
    "invalid": "The form's security token is not one this site issued.",
    "expired": "The form was open for too long and its security token expired.",
    "other_install": "The form's security token belongs to another site.",
    "other_session": "The form's security token belongs to another browser session, "
    "or this browser did not send the site's session cookie.",
}


def csrf_problem(reason: str) -> PageError:
    """A rejected CSRF token: refused with 403, nothing done."""
    return PageError(
        403,
        "The form could not be trusted, so nothing was changed",
        _CSRF_MESSAGES.get(reason, _CSRF_MESSAGES["invalid"]),
        "Reload the page (allow cookies for this site) and submit the form again.",
    )


_ATTEMPT_MESSAGES = {
    "missing": "The form did not say which connection attempt the code belongs to.",
    "invalid": "The connection attempt in the form is not one this site started.",
    "expired": "This connection attempt expired: codes must be pasted within 10 minutes.",
    "other_install": "The connection attempt in the form was started for another site.",
    "other_session": "The connection attempt was started in another browser session.",
}


def attempt_problem(reason: str) -> PageError:
    """A rejected attempt reference: 400, nothing exchanged."""
    return PageError(
        400,
        "This connection attempt cannot be completed",
        _ATTEMPT_MESSAGES.get(reason, _ATTEMPT_MESSAGES["invalid"]),
        "Start again: open the connect link on this page, allow access and paste the new code.",
        retry=True,
    )


def facade_problem(exc: errors.OobHelperError, provider: str) -> PageError:
    """Translate a library error into a page."""
    again = f"Start again: open Connect to {provider}, allow access and paste the new code."
    if isinstance(exc, errors.StateMismatch):
        return PageError(
            400,
            "The pasted address belongs to a different connection attempt",
            "Its state does not match the attempt started on this page, so it was refused "
            "(someone may have sent you their link).",
            again + " Paste only a code you obtained from this page just now.",
            retry=True,
        )
    if isinstance(exc, errors.InvalidPaste):
        return PageError(
            400,
            "The pasted text is not an authorization code",
            f"It could not be used: {exc}",
            f"Copy the code shown by {provider} after you allow access (or the whole address "
            "of that page) and paste it again.",
            retry=True,
        )
    if isinstance(exc, errors.AuthorizationDenied | errors.AccessDenied):
        return PageError(
            403,
            f"Access was denied at {provider}",
            f"{provider} reported that access was not granted, so nothing was connected.",
            again + ' Choose "Allow access" this time.',
            retry=True,
        )
    if isinstance(exc, errors.AttemptExpired):
        return PageError(
            410,
            "This connection attempt expired",
            "Codes must be pasted within 10 minutes of opening the connect link.",
            again,
            retry=True,
        )
    if isinstance(exc, errors.AttemptNotFound):
        return PageError(
            409,
            "This connection attempt was already used",
            "Each connect link works once; this one has been completed or abandoned.",
            again,
            retry=True,
        )
    if isinstance(exc, errors.InvalidGrant | errors.InvalidRequest):
        return PageError(
            400,
            f"{provider} refused the code",
            _describe(exc, provider),
            "Codes work once, for a few minutes, and only with the attempt that produced them. " + again,
            retry=True,
        )
    if isinstance(exc, errors.NotConnected):
        return PageError(
            409,
            "This site is not connected",
            "There is no connection to refresh or disconnect.",
            f"Connect it first with Connect to {provider}.",
            retry=True,
        )
    if isinstance(exc, errors.SiteMismatch):
        return PageError(
            409,
            "This looks like a copy of another site's connection",
            f"This connection was made in a token store that lives elsewhere ({exc.recorded}); this "
            f"store is at {exc.current}. A copy (a staging clone, a restored backup) must not use "
            f"the original's tokens, so nothing was sent to {provider}.",
            "If the original site is retired and this one replaces it, run `oob-helper adopt-store` "
            "on this server; if this is a copy, connect it again below for a connection of its own.",
            retry=True,
        )
    if isinstance(exc, errors.ReauthorizationRequired):
        return PageError(
            409,
            "Reauthorization required",
            f"{provider} no longer accepts this connection: {exc.reason}",
            again,
            retry=True,
        )
    if isinstance(exc, errors.ProviderError):
        return PageError(
            502,
            f"{provider} answered with an error",
            _describe(exc, provider),
            "Nothing was changed. Try again in a minute; if it keeps failing, check the "
            "helper's client settings.",
            retry=True,
        )
    if isinstance(exc, errors.NetworkError):
        return PageError(
            504,
            f"{provider} could not be reached",
            "The connection to the authorization server failed or timed out.",
            "Nothing was changed. Check the server's network access and try again.",
            retry=True,
        )
    if isinstance(exc, errors.VersionConflict):
        return PageError(
            409,
            "The connection changed meanwhile",
            str(exc),
            "Reload the page to see the connection as it is now, then try again if needed.",
        )
    if isinstance(exc, errors.StoreError):
        return PageError(
            503,
            "The token store is unavailable",
            "The helper could not read or write its stored connections.",
            "Nothing was changed. Try again shortly; if it persists, check the store's settings.",
        )
    if isinstance(exc, errors.ConfigurationError):
        return PageError(
            500,
            "The helper is not configured correctly",
            str(exc),
            "Ask the site's operator to fix the helper's settings.",
        )
    return unexpected_problem()


def unexpected_problem() -> PageError:
    """A failure nobody anticipated (a bug): no details on the page, they go to the log."""
    return PageError(
        500,
        "Something went wrong",
        "The helper could not complete the request.",
        "Nothing was changed. Try again; if it keeps failing, check the server's log.",
    )


def _describe(exc: errors.ProviderError, provider: str) -> str:
    text = f"{provider} said: {exc.error}"
    if exc.error_description:
        text += f" ({exc.error_description[:300]})"
    return text + "."
