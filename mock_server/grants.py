"""The token endpoint's grants (RFC 6749 sections 4.1.3 and 6) and client authentication; pure.

Called by ``MockState`` with its lock held. Client credentials may come by HTTP Basic, in the
body or in the query string (providers.md A4 conflict 3); public clients send ``client_id`` and
no secret (a blank Basic password is accepted, A7). A wrong, expired or reused code answers
``config.bad_code_error`` (AWeber's ``invalid_request`` by default, A8); refresh failures answer
``invalid_grant``. A code replayed by the client it was issued to revokes every token issued from
it (RFC 6749 section 4.1.2); another client's code (used or not) is ``invalid_grant`` and revokes
nothing.

Every refusal carries a ``Verdict`` (``mock_server.verdicts``) for the event log: the wire
answer stays the provider's. ``request`` is the token request's number, which the verdicts of
later refusals name as their cause (the request that used a code or rotated a token).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from mock_server import authorize, verdicts
from mock_server.clients import Client
from mock_server.config import MockConfig
from mock_server.errors import TokenError
from mock_server.tokens import Issued, TokenBook
from mock_server.verdicts import Verdict


@dataclass(frozen=True)
class ClientCredentials:
    """How a client identified itself at the token or revoke endpoint."""

    client_id: str | None
    client_secret: str | None  # None = none sent; "" = blank (Basic with an empty password)
    via_basic: bool = False

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, via_basic={self.via_basic})"


def authenticate_client(clients: Mapping[str, Client], creds: ClientCredentials) -> Client:
    """The client behind the credentials, or TokenError invalid_client (401)."""

    def fail(description: str) -> TokenError:
        return TokenError("invalid_client", description, 401, basic_challenge=creds.via_basic)

    if not creds.client_id:
        raise fail("Client authentication failed: send client_id (and client_secret if confidential)")
    client = clients.get(creds.client_id)
    if client is None and creds.via_basic:  # RFC 6749 2.3.1 form-encodes Basic credentials
        client = clients.get(unquote_plus(creds.client_id))
    if client is None:
        raise fail("Client authentication failed: unknown client")
    secret = creds.client_secret
    if client.public:
        if secret:
            raise fail("public clients MUST NOT include secrets")
        return client
    if not secret:
        raise fail("Client authentication failed: this client must send its client_secret")
    ok = client.secret_matches(secret)
    if not ok and creds.via_basic:
        ok = client.secret_matches(unquote_plus(secret))
    if not ok:
        raise fail("Client authentication failed: wrong client_secret")
    return client


def _bad_code(config: MockConfig, description: str, verdict: Verdict | None = None) -> TokenError:
    return TokenError(config.bad_code_error, description, verdict=verdict)


def _wrong_client(what: str, owner: str) -> Verdict:
    return Verdict(
        verdicts.WRONG_CLIENT,
        f"{what} was issued to client {owner!r}, not to the client that sent it; nothing was revoked",
        {"issued_to": owner},
    )


def exchange_code(
    tokens: TokenBook,
    config: MockConfig,
    client: Client,
    params: Mapping[str, str],
    now: float,
    *,
    request: int | None = None,
) -> dict[str, Any]:
    value = params.get("code")
    if not value:
        raise TokenError("invalid_request", "code is missing")
    verifier = params.get("code_verifier")
    if not client.public and verifier is not None:
        raise TokenError(
            "invalid_request", "Confidential Client MUST NOT Use PKCE: code_verifier is disallowed"
        )
    code = tokens.codes.get(value)
    if code is None or code.expires_at <= now:
        verdict = (
            tokens.why_ended(value, "the authorization code")
            if code is None
            else verdicts.expired("the authorization code", code.expires_at, None)
        )
        raise _bad_code(config, "The authorization code is invalid or expired; authorize again", verdict)
    # The client first: another client replaying a used code must not revoke its owner's grant.
    # invalid_grant whatever bad_code_error says: RFC 6749 section 5.2 names "issued to another
    # client" as invalid_grant, and AWeber documents no answer for this case (issue 11).
    if code.client_id != client.client_id:
        raise TokenError(
            "invalid_grant",
            "The authorization code was issued to another client",
            verdict=_wrong_client("the authorization code", code.client_id),
        )
    if code.used:
        revoked = 0
        if code.family_id is not None:
            revoked = tokens.drop_family(
                code.family_id, verdicts.revoked(verdicts.BY_CODE_REPLAY, now, request)
            )
        effect = (
            "the grant issued from it was revoked"
            if revoked
            else "nothing was revoked (its grant had already ended)"
        )
        raise _bad_code(
            config,
            "The authorization code was already used; the tokens issued from it are now revoked",
            Verdict(
                verdicts.CODE_REUSED,
                f"replay of a used authorization code: {effect}",
                verdicts.cause(verdicts.BY_TOKEN_REQUEST, code.used_at or now, code.used_request),
                effect,
            ),
        )
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None and not client.public:
        raise TokenError(
            "invalid_request", "redirect_uri is missing: send the one used in the authorization request"
        )
    if redirect_uri is not None and redirect_uri != code.redirect_uri:
        raise _bad_code(
            config,
            "redirect_uri does not match the one used in the authorization request",
            Verdict(
                verdicts.REDIRECT_URI_MISMATCH,
                "the redirect_uri differs from the one of the authorization request",
                {"expected": code.redirect_uri},
            ),
        )
    if code.code_challenge is not None:
        if verifier is None:
            raise TokenError("invalid_request", "code_verifier is required for public clients (PKCE)")
        problem = authorize.verifier_problem(verifier)
        if problem is not None:
            raise TokenError("invalid_request", problem)
        if not authorize.verifier_matches(verifier, code.code_challenge):
            raise _bad_code(
                config,
                "code_verifier does not match the code_challenge",
                Verdict(
                    verdicts.VERIFIER_MISMATCH,
                    "the code_verifier does not hash to the authorization request's code_challenge",
                ),
            )
    with_refresh = not client.policy.refresh_requires_offline_access or "offline_access" in code.scopes
    family, issued = tokens.new_family(
        client_id=client.client_id,
        username=code.username,
        account_id=code.account_id,
        scopes=code.scopes,
        policy=client.policy,
        now=now,
        access_ttl=config.effective_access_token_ttl,
        with_refresh=with_refresh,
    )
    code.used = True
    code.family_id = family.id
    code.used_at = now
    code.used_request = request
    state = code.state if config.echo_state else None
    return _answer(config, issued, now, state)


_INVALID_REFRESH = "The refresh token is invalid or expired."
_OTHER_CLIENT = "The refresh token was issued to another client"


def refresh(
    tokens: TokenBook,
    config: MockConfig,
    client: Client,
    params: Mapping[str, str],
    now: float,
    *,
    request: int | None = None,
) -> dict[str, Any]:
    value = params.get("refresh_token")
    if not value:
        raise TokenError("invalid_request", "refresh_token is missing")
    family_id = tokens.refresh.get(value)
    if family_id is None:
        return _refresh_rotated(tokens, config, client, value, now, request=request)
    family = tokens.families[family_id]
    if family.client_id != client.client_id:
        raise TokenError(
            "invalid_grant", _OTHER_CLIENT, verdict=_wrong_client("the refresh token", family.client_id)
        )
    expires_at = family.refresh[value]
    if expires_at is not None and expires_at <= now:
        raise TokenError("invalid_grant", _INVALID_REFRESH, verdict=tokens.refresh_verdict(value, expires_at))
    scopes = family.scopes
    if params.get("scope"):
        try:
            requested = frozenset(authorize.parse_scopes(params["scope"], config.profile))
        except ValueError as exc:
            raise TokenError("invalid_scope", str(exc)) from None
        if not requested <= family.scopes:
            extra = sorted(requested - family.scopes)
            raise TokenError(
                "invalid_scope",
                "a refresh cannot add scopes the user did not grant",
                verdict=Verdict(
                    verdicts.SCOPE_NOT_GRANTED,
                    f"the refresh asked for scopes the user did not grant: {' '.join(extra)}",
                    {"granted": sorted(family.scopes), "not_granted": extra},
                ),
            )
        scopes = requested
    issued = tokens.refresh_family(
        family, value, now=now, access_ttl=config.effective_access_token_ttl, scopes=scopes, request=request
    )
    return _answer(config, issued, now, None)


def _refresh_rotated(
    tokens: TokenBook, config: MockConfig, client: Client, value: str, now: float, *, request: int | None
) -> dict[str, Any]:
    family_id = tokens.rotated.get(value)
    family = tokens.families.get(family_id) if family_id else None
    if family is None:
        raise TokenError(
            "invalid_grant", _INVALID_REFRESH, verdict=tokens.why_ended(value, "the refresh token")
        )
    if family.client_id != client.client_id:
        raise TokenError(
            "invalid_grant", _OTHER_CLIENT, verdict=_wrong_client("the refresh token", family.client_id)
        )
    rotation = family.rotated[value]
    rotated_by = verdicts.cause(verdicts.BY_TOKEN_REQUEST, rotation.rotated_at, rotation.request)
    policy = family.policy
    if (
        policy.grace_seconds > 0
        and now - rotation.rotated_at <= policy.grace_seconds
        and rotation.refresh_token in family.refresh
    ):
        issued = Issued(
            rotation.access_token, rotation.refresh_token, rotation.access_expires_at, rotation.scopes
        )
        return _answer(config, issued, now, None)
    if policy.reuse_detection:
        tokens.drop_family(family.id, verdicts.revoked(verdicts.BY_REUSE_DETECTION, now, request))
        effect = "the grant was revoked"
        raise TokenError(
            "invalid_grant",
            "The refresh token was already used; every token of this grant is now revoked "
            "(reuse detection, RFC 9700 section 4.14)",
            verdict=Verdict(
                verdicts.REFRESH_TOKEN_REUSED,
                f"reuse of a rotated refresh token: {effect}",
                rotated_by,
                effect,
            ),
        )
    effect = "nothing was revoked (this client's policy has no reuse detection)"
    raise TokenError(
        "invalid_grant",
        "The refresh token was rotated: use the newest refresh token",
        verdict=Verdict(
            verdicts.REFRESH_TOKEN_ROTATED, f"reuse of a rotated refresh token: {effect}", rotated_by, effect
        ),
    )


def _answer(config: MockConfig, issued: Issued, now: float, state: str | None) -> dict[str, Any]:
    cc = config.profile == "constantcontact"
    answer: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer" if cc else "bearer",
        "expires_in": max(0, round(issued.expires_at - now)),
    }
    if issued.refresh_token is not None:
        answer["refresh_token"] = issued.refresh_token
    if cc:
        answer["scope"] = " ".join(sorted(issued.scopes))
    if state is not None:
        answer["state"] = state
    return answer
