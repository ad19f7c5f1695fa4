"""Pure protocol functions: requests as data, token and error responses, API 401s, accounts."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from oob_helper.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ServerError,
    TemporarilyUnavailable,
)
from oob_helper.protocol import (
    TokenRequest,
    authorize_url,
    code_exchange_request,
    is_rate_limited,
    is_token_rejected,
    parse_account,
    parse_error_response,
    parse_token_response,
    refresh_request,
    revoke_request,
)
from oob_helper.providers import AWEBER, CONSTANT_CONTACT, OOB_REDIRECT_URI, custom_provider
from oob_helper.tokens import Token

NOW = 1_700_000_000.0
VERIFIER = "HLBvz1g_bbLZ31kjvlXJ5Rl0W1GgxU8rjYJdQIIEH_Y"


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


# -- authorize URL ---------------------------------------------------------------------------


def test_authorize_url_public() -> None:
    url = authorize_url(
        AWEBER,
        client_id="cid",
        redirect_uri=OOB_REDIRECT_URI,
        scopes=("account.read", "list.read"),
        state="st",
        code_verifier=VERIFIER,
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AWEBER.authorize_url
    assert "scope=account.read+list.read" in parts.query
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["cid"],
        "redirect_uri": [OOB_REDIRECT_URI],
        "scope": ["account.read list.read"],
        "state": ["st"],
        "code_challenge": ["-oiamT7-EafhQ27P3V9cGEtu3crg731kec-GWhgrTV8"],
        "code_challenge_method": ["S256"],
    }


def test_authorize_url_confidential_has_no_pkce() -> None:
    url = authorize_url(AWEBER, client_id="c", redirect_uri="http://x/cb", scopes=("a",), state="s")
    assert "code_challenge" not in url


def test_authorize_url_keeps_existing_query() -> None:
    p = custom_provider(authorize_url="https://idp/authorize?tenant=t", token_url="https://idp/token")
    url = authorize_url(p, client_id="c", redirect_uri="r", scopes=(), state="s")
    assert url.startswith("https://idp/authorize?tenant=t&response_type=code")
    assert "scope" not in url


# -- token requests --------------------------------------------------------------------------


def test_code_exchange_public() -> None:
    req = code_exchange_request(
        AWEBER,
        client_id="cid",
        client_secret=None,
        client_auth="none",
        code="CODE",
        redirect_uri=OOB_REDIRECT_URI,
        code_verifier=VERIFIER,
    )
    assert req.method == "POST"
    assert req.url == AWEBER.token_url
    assert dict(req.form) == {
        "grant_type": "authorization_code",
        "code": "CODE",
        "redirect_uri": OOB_REDIRECT_URI,
        "code_verifier": VERIFIER,
        "client_id": "cid",
    }
    assert "Authorization" not in req.headers
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert not req.retry_safe


def test_code_exchange_confidential_basic() -> None:
    req = code_exchange_request(
        AWEBER,
        client_id="c id",
        client_secret="s:ecret",
        client_auth="basic",
        code="CODE",
        redirect_uri="r",
    )
    assert "client_id" not in req.form
    assert "client_secret" not in req.form
    assert "code_verifier" not in req.form
    # RFC 6749 2.3.1: each part form-encoded before base64.
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"c+id:s%3Aecret").decode()


def test_post_client_auth() -> None:
    req = refresh_request(AWEBER, client_id="c", client_secret="s", client_auth="post", refresh_token="RT")
    assert dict(req.form) == {
        "grant_type": "refresh_token",
        "refresh_token": "RT",
        "client_id": "c",
        "client_secret": "s",
    }


def test_refresh_public() -> None:
    req = refresh_request(AWEBER, client_id="c", client_secret=None, client_auth="none", refresh_token="RT")
    assert dict(req.form) == {"grant_type": "refresh_token", "refresh_token": "RT", "client_id": "c"}
    assert req.grant == "refresh_token"


def test_basic_without_secret_falls_back_to_body() -> None:
    req = refresh_request(AWEBER, client_id="c", client_secret=None, client_auth="basic", refresh_token="RT")
    assert "Authorization" not in req.headers
    assert req.form["client_id"] == "c"


def test_revoke_public_and_confidential() -> None:
    pub = revoke_request(AWEBER, client_id="c", client_secret=None, client_auth="none", token="RT")
    assert pub.url == AWEBER.revoke_url
    assert dict(pub.form) == {"token": "RT", "token_type_hint": "refresh_token", "client_id": "c"}
    assert pub.retry_safe
    conf = revoke_request(AWEBER, client_id="c", client_secret="s", client_auth="basic", token="RT")
    assert conf.headers["Authorization"].startswith("Basic ")
    assert "client_id" not in conf.form


def test_revoke_without_endpoint() -> None:
    with pytest.raises(ValueError, match="no revocation endpoint"):
        revoke_request(CONSTANT_CONTACT, client_id="c", client_secret=None, client_auth="none", token="t")


def test_request_repr_hides_secrets() -> None:
    req = code_exchange_request(
        AWEBER, client_id="c", client_secret="SECRET", client_auth="basic", code="THECODE", redirect_uri="r"
    )
    text = repr(req)
    assert "SECRET" not in text
    assert "THECODE" not in text
    assert "Basic" not in text
    assert isinstance(req, TokenRequest)


# -- token responses -------------------------------------------------------------------------


def test_aweber_trace_response() -> None:
    data = {"access_token": "AT", "refresh_token": "RT", "expires_in": 7200, "state": "62cd"}
    token = parse_token_response(200, body(data), now=NOW, provider=AWEBER, requested_scopes=("a", "b"))
    assert token == Token(
        access_token="AT",
        token_type="bearer",
        expires_at=NOW + 7200,
        refresh_token="RT",
        scopes=("a", "b"),
        obtained_at=NOW,
    )


def test_scope_in_response_wins() -> None:
    data = {"access_token": "AT", "token_type": "Bearer", "expires_in": 10, "scope": "x y"}
    token = parse_token_response(200, body(data), now=NOW, provider=AWEBER, requested_scopes=("a",))
    assert token.scopes == ("x", "y")
    assert token.token_type == "bearer"


def test_refresh_without_refresh_token_keeps_old() -> None:
    old = Token(access_token="OLD", refresh_token="RT-OLD", scopes=("s",), expires_at=NOW)
    token = parse_token_response(
        200, body({"access_token": "NEW", "expires_in": 60}), now=NOW, provider=AWEBER, previous=old
    )
    assert token.refresh_token == "RT-OLD"
    assert token.scopes == ("s",)
    assert token.expires_at == NOW + 60


def test_rotated_refresh_token_replaces_old() -> None:
    old = Token(access_token="OLD", refresh_token="RT-OLD")
    new = parse_token_response(
        200, body({"access_token": "N", "refresh_token": "RT-NEW"}), now=NOW, provider=AWEBER, previous=old
    )
    assert new.refresh_token == "RT-NEW"


def test_missing_expires_in_uses_provider_default() -> None:
    token = parse_token_response(200, body({"access_token": "A"}), now=NOW, provider=AWEBER)
    assert token.expires_at == NOW + 7200
    p = custom_provider(authorize_url="https://i/a", token_url="https://i/t")
    assert parse_token_response(200, body({"access_token": "A"}), now=NOW, provider=p).expires_at is None


def test_quoted_expires_in() -> None:
    token = parse_token_response(
        200, body({"access_token": "A", "expires_in": "60"}), now=NOW, provider=AWEBER
    )
    assert token.expires_at == NOW + 60


def jwt(claims: dict[str, Any]) -> str:
    def enc(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.sig"


def test_constant_contact_prefers_jwt_exp() -> None:
    data = {"access_token": jwt({"exp": NOW + 1234}), "expires_in": 86400, "refresh_token": "R"}
    token = parse_token_response(200, body(data), now=NOW, provider=CONSTANT_CONTACT)
    assert token.expires_at == NOW + 1234


def test_constant_contact_epoch_expires_in() -> None:
    data = {"access_token": "opaque", "expires_in": int(NOW + 500)}
    assert parse_token_response(200, body(data), now=NOW, provider=CONSTANT_CONTACT).expires_at == int(
        NOW + 500
    )


@pytest.mark.parametrize("access", ["a.b.c", "x.!!!.y", jwt({"exp": "soon"}), jwt({"exp": True}), jwt({})])
def test_constant_contact_bad_jwt_falls_back(access: str) -> None:
    data = {"access_token": access, "expires_in": 86400}
    assert parse_token_response(200, body(data), now=NOW, provider=CONSTANT_CONTACT).expires_at == NOW + 86400


def test_aweber_ignores_jwt_exp() -> None:
    data = {"access_token": jwt({"exp": NOW + 5}), "expires_in": 7200}
    assert parse_token_response(200, body(data), now=NOW, provider=AWEBER).expires_at == NOW + 7200


@pytest.mark.parametrize(
    ("raw", "ctype", "message"),
    [
        (b"{not json", "application/json", "not JSON"),
        (b"<html><body>Oops</body></html>", "text/html", "HTML page"),
        (b"", "application/json", "empty body"),
        (b"[1, 2]", "application/json", "JSON object"),
        (body({"token_type": "bearer", "expires_in": 1}), "application/json", "no access_token"),
        (body({"access_token": ""}), "application/json", "no access_token"),
        (body({"access_token": 5}), "application/json", "no access_token"),
        (body({"access_token": "A", "expires_in": "soon"}), "application/json", "expires_in"),
        (body({"access_token": "A", "expires_in": True}), "application/json", "expires_in"),
        (body({"access_token": "A", "expires_in": -5}), "application/json", "expires_in"),
        (body({"access_token": "A", "refresh_token": 7}), "application/json", "refresh_token"),
        (body({"access_token": "A", "token_type": "mac"}), "application/json", "not bearer"),
        (body({"access_token": "A", "token_type": 1}), "application/json", "token_type"),
        (body({"access_token": "A", "scope": ["a"]}), "application/json", "scope"),
    ],
)
def test_malformed_200s(raw: bytes, ctype: str, message: str) -> None:
    with pytest.raises(MalformedResponse, match=message) as info:
        parse_token_response(200, raw, ctype, now=NOW, provider=AWEBER)
    assert info.value.status_code == 200
    assert info.value.error == "malformed_response"


def test_error_body_with_200_is_an_error() -> None:
    with pytest.raises(InvalidGrant) as info:
        parse_token_response(200, body({"error": "invalid_grant"}), now=NOW, provider=AWEBER)
    assert info.value.status_code == 200


# -- error responses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "data", "cls", "code"),
    [
        (
            400,
            {"error": "invalid_request", "error_description": "Invalid code"},
            InvalidRequest,
            "invalid_request",
        ),
        (400, {"error": "invalid_grant", "error_description": "gone"}, InvalidGrant, "invalid_grant"),
        (401, {"error": "invalid_client"}, InvalidClient, "invalid_client"),
        (500, {"error": "server_error"}, ServerError, "server_error"),
        (
            400,
            {
                "error": {
                    "status": 400,
                    "type": "BadRequestError",
                    "message": "Request does not have OAuth credentials.",
                }
            },
            InvalidRequest,
            "BadRequestError",
        ),
        (
            401,
            {"error": {"status": 401, "type": "UnauthorizedError", "message": "x"}},
            InvalidClient,
            "UnauthorizedError",
        ),
        (
            503,
            {"error": {"type": "ServiceUnavailableError"}},
            TemporarilyUnavailable,
            "ServiceUnavailableError",
        ),
        (410, {"error": {"type": "BlockedError", "message": "Blocked Error"}}, ProviderError, "BlockedError"),
        (
            401,
            [{"error_key": "unauthorized", "error_message": "The access token used is invalid."}],
            ProviderError,
            "unauthorized",
        ),
        (429, {"error_key": "throttled", "error_message": "Too Many Requests"}, ProviderError, "throttled"),
        (400, {"error": "weird_code"}, ProviderError, "weird_code"),
    ],
)
def test_error_shapes(status: int, data: Any, cls: type[ProviderError], code: str) -> None:
    err = parse_error_response(status, body(data), "application/json")
    assert type(err) is cls
    assert err.error == code
    assert err.status_code == status
    assert code in str(err)


def test_error_description_kept_and_cleaned() -> None:
    err = parse_error_response(400, body({"error": "invalid_grant", "error_description": "a\nb" + "x" * 500}))
    assert err.error_description is not None
    assert "\n" not in err.error_description
    assert len(err.error_description) == 200


@pytest.mark.parametrize(
    ("status", "cls"),
    [(500, ServerError), (502, ServerError), (503, TemporarilyUnavailable), (404, MalformedResponse)],
)
def test_non_json_errors(status: int, cls: type[ProviderError]) -> None:
    err = parse_error_response(status, b"<html>Bad Gateway</html>", "text/html", retry_after=3)
    assert type(err) is cls
    assert "HTML page" in str(err)
    assert "Bad Gateway" not in str(err)
    assert err.retry_after == 3


def test_odd_error_code_not_echoed() -> None:
    err = parse_error_response(400, body({"error": "<b>x</b>"}))
    assert err.error == "provider_error"
    assert "<b>" not in str(err)


# -- API answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "data", "rejected", "limited"),
    [
        (401, {"error": "invalid_token", "error_description": "expired"}, True, False),
        (
            401,
            {"error": {"status": 401, "type": "UnauthorizedError", "message": "Invalid Token"}},
            True,
            False,
        ),
        (401, "plain text", True, False),
        (400, {"error": "invalid_token"}, True, False),
        (
            403,
            {"error": {"status": 403, "type": "ForbiddenError", "message": "Rate Limit Error"}},
            False,
            True,
        ),
        (
            403,
            {"error": {"status": 403, "type": "ForbiddenError", "message": "Account on hold"}},
            False,
            False,
        ),
        (429, {"error_key": "throttled"}, False, True),
        (200, {"error": "invalid_token"}, False, False),
        (404, {"error": {"type": "NotFoundError"}}, False, False),
    ],
)
def test_api_answers(status: int, data: Any, rejected: bool, limited: bool) -> None:
    raw = data.encode() if isinstance(data, str) else body(data)
    assert is_token_rejected(status, raw) is rejected
    assert is_rate_limited(status, raw) is limited


def test_rate_limit_with_non_json() -> None:
    assert not is_rate_limited(403, b"<html>")


def test_aweber_account() -> None:
    data = {"entries": [{"id": 123, "company": "Demo Co", "uuid": "u"}], "total_size": 1, "start": 0}
    account = parse_account(AWEBER, 200, body(data))
    assert (account.id, account.name) == ("123", "Demo Co")


def test_constant_contact_account() -> None:
    data = {"encoded_account_id": "a07e1", "organization_name": "Acme"}
    account = parse_account(CONSTANT_CONTACT, 200, body(data))
    assert (account.id, account.name) == ("a07e1", "Acme")


@pytest.mark.parametrize(
    "data",
    [{"entries": []}, {"entries": [{"company": "x"}]}, {"entries": [{"id": True}]}, {"entries": ["x"]}],
)
def test_account_without_id(data: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_account(AWEBER, 200, body(data))


def test_account_errors() -> None:
    with pytest.raises(MalformedResponse, match="HTML"):
        parse_account(AWEBER, 200, b"<html>", "text/html")
    with pytest.raises(ProviderError) as info:
        parse_account(AWEBER, 404, body({"error": {"type": "NotFoundError", "message": "nope"}}))
    assert info.value.status_code == 404
