"""Reading what the user pasted back: a bare code, or the whole redirect URL.

Pure. People paste codes with stray spaces, quotes and line breaks (terminals wrap long lines),
or copy the browser's address bar after a redirect; all of those are accepted. Everything else
is an ``InvalidPaste`` that says what to paste instead. Messages never repeat the pasted text:
it may be a live code.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from oob_helper.errors import AuthorizationDenied, InvalidPaste, StateMismatch

MAX_PASTE_BYTES = 2048
# Codes are opaque, but every provider we know uses URL-safe characters; allowing '+', '/'
# and '=' keeps base64 codes working too.
_CODE_RE = re.compile(r"[A-Za-z0-9\-._~+/=]{1,2048}")
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"
_WHITESPACE_RE = re.compile(r"\s+")

_WHAT_TO_DO = (
    "paste the authorization code shown by the provider after you allowed access, "
    "or the whole address the browser was sent to"
)


@dataclass(frozen=True)
class Pasted:
    """A code read from the user's paste, and the state if it came in a redirect URL."""

    code: str = field(repr=False)
    state: str | None = field(default=None, repr=False)
    from_url: bool = False


def _strip(text: str) -> str:
    text = text.strip()
    # Peel matching or stray quotes: users copy "code" from JSON, logs and chat messages.
    while text and (text[0] in _QUOTES or text[-1] in _QUOTES):
        text = text.strip(_QUOTES).strip()
    return text


def _looks_like_url(text: str) -> bool:
    return "://" in text or text.startswith(("?", "#", "urn:")) or "code=" in text or "error=" in text


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidPaste(f"the pasted address carries {name!r} more than once: {_WHAT_TO_DO}")
    return values[0]


def _from_url(text: str) -> Pasted:
    try:
        parts = urlsplit(text)
    except ValueError:
        raise InvalidPaste(f"the pasted address could not be read: {_WHAT_TO_DO}") from None
    query = parts.query
    if not query and text.startswith("?"):
        query = text[1:]
    if not query and "=" in text and "?" not in text and "://" not in text:
        query = text  # a bare "code=...&state=..." fragment of a URL
    # Some servers answer in the fragment (response_mode=fragment); read both.
    params = parse_qs(query, keep_blank_values=True)
    for name, values in parse_qs(parts.fragment, keep_blank_values=True).items():
        params.setdefault(name, values)
    error = _one(params, "error")
    if error is not None:
        if error == "access_denied":
            raise AuthorizationDenied(
                "access was denied at the provider: start again and press the allow button "
                "if you want to connect"
            )
        safe = error if re.fullmatch(r"[a-z_]{1,64}", error) else "an unknown error"
        raise InvalidPaste(f"the provider refused the authorization ({safe}): start again")
    code = _one(params, "code")
    if not code:
        raise InvalidPaste(f"the pasted address has no code in it: {_WHAT_TO_DO}")
    if not _CODE_RE.fullmatch(code):
        raise InvalidPaste(f"the code in the pasted address has unexpected characters: {_WHAT_TO_DO}")
    return Pasted(code=code, state=_one(params, "state"), from_url=True)


def parse_paste(text: str) -> Pasted:
    """Read a code (and a redirect URL's state) from what the user pasted.

    Raises ``InvalidPaste`` for empty, overlong (over 2 KB) or unreadable input, and
    ``AuthorizationDenied`` for a redirect URL with ``error=access_denied``.
    """
    if not isinstance(text, str):
        raise InvalidPaste(f"nothing usable was pasted: {_WHAT_TO_DO}")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PASTE_BYTES:
        raise InvalidPaste(
            f"the pasted text is longer than {MAX_PASTE_BYTES} bytes, far more than a code: {_WHAT_TO_DO}"
        )
    text = _strip(text)
    if not text:
        raise InvalidPaste(f"nothing was pasted: {_WHAT_TO_DO}")
    if _looks_like_url(text):
        # Wrapped lines inside a URL are artifacts of the terminal, never part of it.
        return _from_url(_WHITESPACE_RE.sub("", text))
    code = _WHITESPACE_RE.sub("", text)
    if not _CODE_RE.fullmatch(code):
        raise InvalidPaste(f"the pasted text is not an authorization code: {_WHAT_TO_DO}")
    return Pasted(code=code)


def check_state(pasted: Pasted, expected_state: str) -> None:
    """Raise ``StateMismatch`` unless a pasted redirect URL carries this attempt's state.

    A bare code carries no state (the out-of-band page shows only the code), so it passes.
    """
    if not pasted.from_url:
        return
    if pasted.state is None:
        raise StateMismatch(
            "the pasted address has no state parameter, so it cannot be matched to this "
            "connection attempt: start again and paste the address you are sent to"
        )
    if not hmac.compare_digest(pasted.state.encode("utf-8"), expected_state.encode("utf-8")):
        raise StateMismatch(
            "the pasted address belongs to a different connection attempt (its state does not "
            "match): start again and paste the address from this attempt"
        )


def parse_paste_for(text: str, expected_state: str) -> str:
    """``parse_paste`` plus ``check_state``: the code, once it is known to be this attempt's."""
    pasted = parse_paste(text)
    check_state(pasted, expected_state)
    return pasted.code


__all__ = ["MAX_PASTE_BYTES", "Pasted", "check_state", "parse_paste", "parse_paste_for"]
