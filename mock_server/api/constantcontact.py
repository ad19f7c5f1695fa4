"""Constant Contact's profile: ``GET /v3/account/summary`` and its 404 for anything else."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.api.model import NotFound
from mock_server.state import InvalidToken, MockState
from mock_server.world import state_of


def _cc_error(status: int, key: str, message: str, headers: dict[str, str] | None = None) -> Response:
    # Constant Contact's V3 errors are an array of {error_key, error_message} (providers.md B7).
    return JSONResponse([{"error_key": key, "error_message": message}], status_code=status, headers=headers)


async def account_summary(request: Request) -> Response:
    """GET /v3/account/summary: the token's account as Constant Contact describes it."""
    if request.method not in ("GET", "HEAD"):
        return _cc_error(405, "method_not_allowed", "Method not allowed.", {"Allow": "GET, HEAD"})
    state: MockState = state_of(request.scope)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    try:
        grant = state.authenticate(token)
    except InvalidToken:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return _cc_error(401, "unauthorized", "The access token used is invalid.", headers)
    if "account_read" not in grant.scopes:
        return _cc_error(403, "forbidden", "The access token lacks the account_read scope.")
    try:
        account = state.directory.account(grant.account_id)
    except NotFound:
        return _cc_error(404, "account.api.not_found", "Account not found.")
    return JSONResponse(
        {
            "encoded_account_id": f"a{account.uuid.replace('-', '')[:12]}",
            "organization_name": account.company,
            "contact_email": f"{account.username}@example.com",
            "first_name": account.username,
            "last_name": "",
            "country_code": "US",
            "state_code": "PA",
            "time_zone_id": "US/Eastern",
        }
    )


async def unknown_path(request: Request) -> Response:
    """Anything else under /v3: Constant Contact's 404 array."""
    return _cc_error(404, "not_found", "The requested resource was not found.")
