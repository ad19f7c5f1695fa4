"""The OAuth 2 protocol as pure functions: requests as plain data, responses parsed to values.

Pure (see SANSIO.md): no I/O, time passed in. ``oob_helper.transport`` sends what these
functions build and hands the answers back to them. Provider quirks follow
../shared/providers.md; the section is named where a rule comes from. The parts live in
``protocol_requests``, ``protocol_responses`` and ``protocol_paste``; import them from here.
"""

from __future__ import annotations

from oob_helper.protocol_paste import MAX_PASTE_BYTES, Pasted, check_state, parse_paste, parse_paste_for
from oob_helper.protocol_requests import (
    TokenRequest,
    authorize_url,
    code_exchange_request,
    refresh_request,
    revoke_request,
)
from oob_helper.protocol_responses import (
    Account,
    is_rate_limited,
    is_token_rejected,
    parse_account,
    parse_error_response,
    parse_token_response,
)

__all__ = [
    "MAX_PASTE_BYTES",
    "Account",
    "Pasted",
    "TokenRequest",
    "authorize_url",
    "check_state",
    "code_exchange_request",
    "is_rate_limited",
    "is_token_rejected",
    "parse_account",
    "parse_error_response",
    "parse_paste",
    "parse_paste_for",
    "parse_token_response",
    "refresh_request",
    "revoke_request",
]
