"""Bad input at the authorization server, over real HTTP: each case gets its documented error.

Every case also checks the invariants: never a 5xx, never a Location outside the registered
redirect URIs, never an access token in the answer.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server import MockServer
from mock_server.authorize import s256

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "http://127.0.0.1:8000/callback"
REGISTERED = {OOB, CALLBACK}
VERIFIER = "HLBvz1g_bbLZ31kjvlXJ5Rl0W1GgxU8rjYJdQIIEH_Y"
CONF_AUTH = ("demo-confidential", "demo-secret")

Send = Callable[[MockServer, httpx.Client], httpx.Response]


@dataclass(frozen=True)
class Case:
    id: str
    send: Send
    status: int
    error: str | None
    kind: Literal["json", "page", "redirect", "other"] = "json"


# -- request helpers -------------------------------------------------------------------------------


def authz_params(client_id: str = "demo-confidential", **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "account.read",
        "state": "st-1",
    }
    if client_id == "demo-public":
        params["code_challenge"] = s256(VERIFIER)
        params["code_challenge_method"] = "S256"
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def get_authorize(client_id: str = "demo-confidential", **overrides: str | None) -> Send:
    return lambda mock, http: http.get("/oauth2/authorize", params=authz_params(client_id, **overrides))


def get_raw_authorize(query: str) -> Send:
    return lambda mock, http: http.get(f"/oauth2/authorize?{query}")


def code_for(mock: MockServer, client_id: str = "demo-confidential", **overrides: str | None) -> str:
    params = authz_params(client_id, redirect_uri=OOB, **overrides)
    return str(mock.approve(params)["code"])


def post_token(data: dict[str, str], auth: tuple[str, str] | None = CONF_AUTH, **kw: Any) -> Send:
    return lambda mock, http: http.post("/oauth2/token", data=data, auth=auth, **kw)


def exchange(
    code_args: dict[str, str | None] | None = None,
    body: dict[str, str | None] | None = None,
    auth: tuple[str, str] | None = CONF_AUTH,
    client_id: str = "demo-confidential",
    before: Callable[[MockServer, httpx.Client, str], None] | None = None,
) -> Send:
    def send(mock: MockServer, http: httpx.Client) -> httpx.Response:
        code = code_for(mock, client_id, **(code_args or {}))
        if before is not None:
            before(mock, http, code)
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}
        data.update(body or {})
        return http.post("/oauth2/token", data={k: v for k, v in data.items() if v is not None}, auth=auth)

    return send


def first_pair(mock: MockServer, http: httpx.Client) -> dict[str, Any]:
    data = {"grant_type": "authorization_code", "code": code_for(mock), "redirect_uri": OOB}
    response = http.post("/oauth2/token", data=data, auth=CONF_AUTH)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def refresh_after(prepare: Callable[[MockServer, httpx.Client, dict[str, Any]], str]) -> Send:
    def send(mock: MockServer, http: httpx.Client) -> httpx.Response:
        token = prepare(mock, http, first_pair(mock, http))
        data = {"grant_type": "refresh_token", "refresh_token": token}
        return http.post("/oauth2/token", data=data, auth=CONF_AUTH)

    return send


def rotated(mock: MockServer, http: httpx.Client, pair: dict[str, Any]) -> str:
    data = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    assert http.post("/oauth2/token", data=data, auth=CONF_AUTH).status_code == 200
    return str(pair["refresh_token"])


def revoked(mock: MockServer, http: httpx.Client, pair: dict[str, Any]) -> str:
    assert mock.revoke_tokens(client_id="demo-confidential") == 2
    return str(pair["refresh_token"])


def revoked_at_endpoint(mock: MockServer, http: httpx.Client, pair: dict[str, Any]) -> str:
    data = {"token": pair["refresh_token"], "token_type_hint": "refresh_token"}
    assert http.post("/oauth2/revoke", data=data, auth=CONF_AUTH).status_code == 200
    return str(pair["refresh_token"])


def other_clients(mock: MockServer, http: httpx.Client) -> None:
    mock.add_client("other-app", "other-secret", [OOB, CALLBACK], "Other app")


def with_other(send: Send) -> Send:
    def wrapped(mock: MockServer, http: httpx.Client) -> httpx.Response:
        other_clients(mock, http)
        return send(mock, http)

    return wrapped


def others_refresh_token(mock: MockServer, http: httpx.Client) -> httpx.Response:
    other_clients(mock, http)
    pair = first_pair(mock, http)
    data = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    return http.post("/oauth2/token", data=data, auth=("other-app", "other-secret"))


def basic(raw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + raw}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def replay(mock: MockServer, http: httpx.Client, code: str) -> None:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}
    assert http.post("/oauth2/token", data=data, auth=CONF_AUTH).status_code == 200


def expire_code(mock: MockServer, http: httpx.Client, code: str) -> None:
    mock.advance_clock(601)


def revoke(data: dict[str, str], auth: tuple[str, str] | None = CONF_AUTH) -> Send:
    return lambda mock, http: http.post("/oauth2/revoke", data=data, auth=auth)


def revoke_others_token(mock: MockServer, http: httpx.Client) -> httpx.Response:
    other_clients(mock, http)
    pair = first_pair(mock, http)
    return http.post(
        "/oauth2/revoke", data={"token": pair["access_token"]}, auth=("other-app", "other-secret")
    )


def post_bogus_consent(mock: MockServer, http: httpx.Client) -> httpx.Response:
    data = {"form_token": "forged", "username": "demo", "password": "demo", "decision": "allow"}
    return http.post("/oauth2/authorize", data=data)


def consent_without_cookie(mock: MockServer, http: httpx.Client) -> httpx.Response:
    page = http.get("/oauth2/authorize", params=authz_params())
    token = page.text.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    http.cookies.clear()
    data = {"form_token": token, "username": "demo", "password": "demo", "decision": "allow"}
    return http.post("/oauth2/authorize", data=data)


BIG = "x" * (64 * 1024 + 1)
PKCE = {"code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}

CASES = [
    # -- authorize: no trusted redirect URI yet, so a page and never a redirect
    Case("authz-unknown-client", get_authorize(client_id="nobody"), 400, "invalid_client", "page"),
    Case("authz-missing-client", get_authorize(client_id=None), 400, "invalid_request", "page"),  # type: ignore[arg-type]
    Case("authz-missing-redirect", get_authorize(redirect_uri=None), 400, "invalid_request", "page"),
    Case(
        "authz-other-host",
        get_authorize(redirect_uri="http://evil.example/callback"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-javascript", get_authorize(redirect_uri="javascript:alert(1)"), 400, "invalid_request", "page"
    ),
    Case(
        "authz-prefix",
        get_authorize(redirect_uri="http://127.0.0.1:8000/call"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-origin-only",
        get_authorize(redirect_uri="http://127.0.0.1:8000"),
        400,
        "invalid_request",
        "page",
    ),
    Case("authz-suffix-path", get_authorize(redirect_uri=CALLBACK + "/evil"), 400, "invalid_request", "page"),
    Case("authz-suffix-slash", get_authorize(redirect_uri=CALLBACK + "/"), 400, "invalid_request", "page"),
    Case(
        "authz-suffix-query",
        get_authorize(redirect_uri=CALLBACK + "?next=//evil.example"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-scheme-case",
        get_authorize(redirect_uri="HTTP://127.0.0.1:8000/callback"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-path-case",
        get_authorize(redirect_uri="http://127.0.0.1:8000/Callback"),
        400,
        "invalid_request",
        "page",
    ),
    Case("authz-fragment", get_authorize(redirect_uri=CALLBACK + "#frag"), 400, "invalid_request", "page"),
    Case(
        "authz-double-encoded",
        get_authorize(redirect_uri="http%3A%2F%2F127.0.0.1%3A8000%2Fcallback"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-encoded-path",
        get_authorize(redirect_uri="http://127.0.0.1:8000/%63allback"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-userinfo",
        get_authorize(redirect_uri="http://127.0.0.1:8000@evil.example/callback"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-other-port",
        get_authorize(redirect_uri="http://127.0.0.1:8001/callback"),
        400,
        "invalid_request",
        "page",
    ),
    Case(
        "authz-https-variant",
        get_authorize(redirect_uri="https://127.0.0.1:8000/callback"),
        400,
        "invalid_request",
        "page",
    ),
    Case("authz-leading-space", get_authorize(redirect_uri=" " + CALLBACK), 400, "invalid_request", "page"),
    Case(
        "authz-oob-case",
        get_authorize(redirect_uri="URN:IETF:WG:OAUTH:2.0:OOB"),
        400,
        "invalid_request",
        "page",
    ),
    Case("authz-oob-suffix", get_authorize(redirect_uri=OOB + ":auto"), 400, "invalid_request", "page"),
    Case(
        "authz-duplicate-redirect",
        get_raw_authorize(
            "client_id=demo-confidential&response_type=code&scope=account.read"
            "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fcallback&redirect_uri=http%3A%2F%2Fevil.example%2F"
        ),
        400,
        "invalid_request",
        "page",
    ),
    # -- authorize: redirect URI trusted, errors go back to it with state
    Case(
        "authz-missing-response-type", get_authorize(response_type=None), 302, "invalid_request", "redirect"
    ),
    Case(
        "authz-token-response-type",
        get_authorize(response_type="token"),
        302,
        "unsupported_response_type",
        "redirect",
    ),
    Case("authz-unknown-scope", get_authorize(scope="account.read admin"), 302, "invalid_scope", "redirect"),
    Case(
        "authz-comma-scopes", get_authorize(scope="account.read,list.read"), 302, "invalid_scope", "redirect"
    ),
    Case("authz-missing-scope", get_authorize(scope=None), 302, "invalid_scope", "redirect"),
    Case(
        "authz-public-no-pkce",
        get_authorize("demo-public", code_challenge=None, code_challenge_method=None),
        302,
        "invalid_request",
        "redirect",
    ),
    Case(
        "authz-public-plain",
        get_authorize("demo-public", code_challenge=VERIFIER, code_challenge_method="plain"),
        302,
        "invalid_request",
        "redirect",
    ),
    Case(
        "authz-public-no-method",
        get_authorize("demo-public", code_challenge_method=None),
        302,
        "invalid_request",
        "redirect",
    ),
    Case(
        "authz-challenge-short",
        get_authorize("demo-public", code_challenge="abc"),
        302,
        "invalid_request",
        "redirect",
    ),
    Case(
        "authz-challenge-long",
        get_authorize("demo-public", code_challenge="a" * 44),
        302,
        "invalid_request",
        "redirect",
    ),
    Case(
        "authz-challenge-chars",
        get_authorize("demo-public", code_challenge="+" * 42 + "="),
        302,
        "invalid_request",
        "redirect",
    ),
    Case("authz-confidential-pkce", get_authorize(**PKCE), 302, "invalid_request", "redirect"),
    Case("authz-oob-bad-scope", get_authorize(redirect_uri=OOB, scope="nope"), 400, "invalid_scope", "page"),
    Case("authz-forged-form-token", post_bogus_consent, 400, "invalid_request", "page"),
    Case("authz-consent-without-cookie", consent_without_cookie, 400, "invalid_request", "page"),
    Case(
        "authz-oversized-form",
        lambda m, h: h.post("/oauth2/authorize", data={"form_token": BIG}),
        413,
        "invalid_request",
        "page",
    ),
    # -- token: client authentication
    Case(
        "token-unknown-client",
        post_token({"grant_type": "refresh_token", "refresh_token": "x"}, ("nobody", "x")),
        401,
        "invalid_client",
    ),
    Case(
        "token-wrong-secret",
        post_token({"grant_type": "refresh_token", "refresh_token": "x"}, ("demo-confidential", "wrong")),
        401,
        "invalid_client",
    ),
    Case(
        "token-secret-prefix",
        post_token({"grant_type": "refresh_token", "refresh_token": "x"}, ("demo-confidential", "demo")),
        401,
        "invalid_client",
    ),
    Case(
        "token-basic-not-base64",
        post_token({"grant_type": "refresh_token"}, None, headers=basic("%%%not-base64")),
        401,
        "invalid_client",
    ),
    Case(
        "token-basic-no-colon",
        post_token({"grant_type": "refresh_token"}, None, headers=basic(b64("demo-confidential"))),
        401,
        "invalid_client",
    ),
    Case(
        "token-basic-bad-utf8",
        post_token(
            {"grant_type": "refresh_token"}, None, headers=basic(base64.b64encode(b"\xff\xfe:x").decode())
        ),
        401,
        "invalid_client",
    ),
    Case(
        "token-no-credentials",
        post_token({"grant_type": "refresh_token", "refresh_token": "x"}, None),
        401,
        "invalid_client",
    ),
    Case(
        "token-confidential-body-no-secret",
        post_token(
            {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "demo-confidential"}, None
        ),
        401,
        "invalid_client",
    ),
    Case(
        "token-public-with-secret",
        post_token({"grant_type": "refresh_token", "refresh_token": "x"}, ("demo-public", "made-up")),
        401,
        "invalid_client",
    ),
    Case(
        "token-basic-body-mismatch",
        post_token({"grant_type": "refresh_token", "refresh_token": "x", "client_id": "demo-public"}),
        400,
        "invalid_request",
    ),
    # -- token: request shape
    Case("token-missing-grant-type", post_token({"code": "x"}), 400, "invalid_request"),
    Case(
        "token-unknown-grant-type",
        post_token({"grant_type": "password", "username": "demo", "password": "demo"}),
        400,
        "unsupported_grant_type",
    ),
    Case(
        "token-client-credentials",
        post_token({"grant_type": "client_credentials"}),
        400,
        "unsupported_grant_type",
    ),
    Case(
        "token-oversized-body",
        post_token({"grant_type": "refresh_token", "refresh_token": BIG}),
        413,
        "invalid_request",
    ),
    Case(
        "token-oversized-json",
        lambda m, h: h.post("/oauth2/token", json={"grant_type": BIG}, auth=CONF_AUTH),
        413,
        "invalid_request",
    ),
    Case(
        "token-malformed-json",
        lambda m, h: h.post(
            "/oauth2/token", content=b"{nope", headers={"Content-Type": "application/json"}, auth=CONF_AUTH
        ),
        400,
        "invalid_request",
    ),
    Case(
        "token-deeply-nested-json",
        lambda m, h: h.post(
            "/oauth2/token",
            content=b"[" * 60000,
            headers={"Content-Type": "application/json"},
            auth=CONF_AUTH,
        ),
        400,
        "invalid_request",
    ),
    Case(
        "token-json-array",
        lambda m, h: h.post("/oauth2/token", json=["grant_type"], auth=CONF_AUTH),
        400,
        "invalid_request",
    ),
    Case(
        "token-json-nested",
        lambda m, h: h.post("/oauth2/token", json={"grant_type": {"x": 1}}, auth=CONF_AUTH),
        400,
        "invalid_request",
    ),
    Case(
        "token-xml-body",
        lambda m, h: h.post(
            "/oauth2/token", content=b"<grant/>", headers={"Content-Type": "text/xml"}, auth=CONF_AUTH
        ),
        400,
        "invalid_request",
    ),
    Case(
        "token-bad-utf8-form",
        lambda m, h: h.post(
            "/oauth2/token",
            content=b"grant_type=%ff%fe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=CONF_AUTH,
        ),
        400,
        "invalid_request",
    ),
    Case(
        "token-conflicting-duplicates",
        lambda m, h: h.post(
            "/oauth2/token?grant_type=refresh_token",
            data={"grant_type": "authorization_code"},
            auth=CONF_AUTH,
        ),
        400,
        "invalid_request",
    ),
    Case("token-get-method", lambda m, h: h.get("/oauth2/token"), 405, None, "other"),
    # -- token: authorization codes
    Case(
        "code-missing",
        post_token({"grant_type": "authorization_code", "redirect_uri": OOB}),
        400,
        "invalid_request",
    ),
    Case(
        "code-unknown",
        post_token({"grant_type": "authorization_code", "code": "made-up", "redirect_uri": OOB}),
        400,
        "invalid_request",
    ),
    Case("code-replay", exchange(before=replay), 400, "invalid_request"),
    Case("code-expired", exchange(before=expire_code), 400, "invalid_request"),
    Case("code-other-redirect", exchange(body={"redirect_uri": CALLBACK}), 400, "invalid_request"),
    Case("code-missing-redirect-confidential", exchange(body={"redirect_uri": None}), 400, "invalid_request"),
    Case("code-other-client", with_other(exchange(auth=("other-app", "other-secret"))), 400, "invalid_grant"),
    Case("code-confidential-verifier", exchange(body={"code_verifier": VERIFIER}), 400, "invalid_request"),
    Case(
        "pkce-missing-verifier",
        exchange(PKCE, {"client_id": "demo-public"}, None, "demo-public"),
        400,
        "invalid_request",
    ),
    Case(
        "pkce-wrong-verifier",
        exchange(PKCE, {"client_id": "demo-public", "code_verifier": "A" * 43}, None, "demo-public"),
        400,
        "invalid_request",
    ),
    Case(
        "pkce-verifier-too-short",
        exchange(PKCE, {"client_id": "demo-public", "code_verifier": VERIFIER[:42]}, None, "demo-public"),
        400,
        "invalid_request",
    ),
    Case(
        "pkce-verifier-too-long",
        exchange(PKCE, {"client_id": "demo-public", "code_verifier": "a" * 129}, None, "demo-public"),
        400,
        "invalid_request",
    ),
    Case(
        "pkce-verifier-bad-chars",
        exchange(PKCE, {"client_id": "demo-public", "code_verifier": "+/=" * 15}, None, "demo-public"),
        400,
        "invalid_request",
    ),
    Case(
        "pkce-challenge-as-verifier",
        exchange(PKCE, {"client_id": "demo-public", "code_verifier": s256(VERIFIER)}, None, "demo-public"),
        400,
        "invalid_request",
    ),
    # -- token: refresh tokens
    Case("refresh-missing", post_token({"grant_type": "refresh_token"}), 400, "invalid_request"),
    Case(
        "refresh-unknown",
        post_token({"grant_type": "refresh_token", "refresh_token": "made-up"}),
        400,
        "invalid_grant",
    ),
    Case("refresh-rotated", refresh_after(rotated), 400, "invalid_grant"),
    Case("refresh-revoked-by-control", refresh_after(revoked), 400, "invalid_grant"),
    Case("refresh-revoked-at-endpoint", refresh_after(revoked_at_endpoint), 400, "invalid_grant"),
    Case(
        "refresh-access-token-instead",
        refresh_after(lambda m, h, pair: str(pair["access_token"])),
        400,
        "invalid_grant",
    ),
    Case("refresh-other-clients-token", others_refresh_token, 400, "invalid_grant"),
    Case(
        "refresh-wider-scope",
        lambda m, h: h.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first_pair(m, h)["refresh_token"],
                "scope": "email.write",
            },
            auth=CONF_AUTH,
        ),
        400,
        "invalid_scope",
    ),
    # -- revoke
    Case("revoke-missing-token", revoke({"token_type_hint": "refresh_token"}), 400, "invalid_request"),
    Case("revoke-wrong-secret", revoke({"token": "x"}, ("demo-confidential", "nope")), 401, "invalid_client"),
    Case(
        "revoke-public-with-secret", revoke({"token": "x"}, ("demo-public", "made-up")), 401, "invalid_client"
    ),
    Case("revoke-others-token", revoke_others_token, 400, "invalid_request"),
    Case("revoke-oversized", revoke({"token": BIG}), 413, "invalid_request"),
]


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 45
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(mock_aweber: MockServer, case: Case) -> None:
    with httpx.Client(base_url=mock_aweber.url, follow_redirects=False, timeout=10) as http:
        response = case.send(mock_aweber, http)
    assert response.status_code < 500
    assert response.status_code == case.status, response.text
    assert "access_token" not in response.text
    location = response.headers.get("location")
    if location is not None:
        assert location.split("?", 1)[0] in REGISTERED
    assert response.headers["x-frame-options"] == "DENY"
    if case.kind == "json":
        body = response.json()
        assert body["error"] == case.error
        assert body["error_description"]
        assert response.headers["cache-control"] == "no-store"
        if response.status_code == 401 and "authorization" in response.request.headers:
            assert response.headers["www-authenticate"].startswith("Basic")
    elif case.kind == "page":
        assert response.headers["content-type"].startswith("text/html")
        assert f"<code>{case.error}</code>" in response.text
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    elif case.kind == "redirect":
        assert location is not None
        query = httpx.URL(location).params
        assert location.startswith(CALLBACK + "?")
        assert query["error"] == case.error
        assert query["state"] == "st-1"
        assert "code" not in query


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["/oauth2/token", "/oauth2/revoke", "/oauth2/authorize"]),
    body=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(
            st.sampled_from(
                [
                    "grant_type",
                    "code",
                    "refresh_token",
                    "client_id",
                    "client_secret",
                    "token",
                    "form_token",
                    "redirect_uri",
                    "code_verifier",
                    "scope",
                ]
            ),
            st.text(max_size=60),
        ).map(lambda d: httpx.QueryParams(d).__str__().encode()),
    ),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data", ""]
    ),
    authorization=st.one_of(
        st.none(),
        st.text(PRINTABLE, max_size=60),
        st.text(PRINTABLE, max_size=60).map(lambda s: "Basic " + s),
    ),
    query=st.text(PRINTABLE, max_size=80),
)
def test_random_requests_never_crash(
    mock_aweber: MockServer, path: str, body: bytes, content_type: str, authorization: str | None, query: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if authorization is not None and authorization.strip():
        headers["Authorization"] = authorization.strip()  # h11 refuses surrounding spaces
    response = httpx.post(f"{mock_aweber.url}{path}?{query}", content=body, headers=headers)
    assert response.status_code < 500
    assert "access_token" not in response.text
    location = response.headers.get("location")
    if location is not None:
        assert location.split("?", 1)[0] in REGISTERED
