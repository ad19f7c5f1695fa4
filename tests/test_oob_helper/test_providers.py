"""Provider profiles: endpoints per providers.md, moving bases to the mock, custom providers."""

from __future__ import annotations

import pytest

from oob_helper.errors import ConfigurationError
from oob_helper.providers import AWEBER, CONSTANT_CONTACT, PROVIDERS, custom_provider, get_provider


def test_aweber_profile() -> None:
    assert AWEBER.authorize_url == "https://auth.aweber.com/oauth2/authorize"
    assert AWEBER.token_url == "https://auth.aweber.com/oauth2/token"
    assert AWEBER.revoke_url == "https://auth.aweber.com/oauth2/revoke"
    assert AWEBER.api_base == "https://api.aweber.com/1.0"
    assert AWEBER.confidential_auth == "basic"
    assert AWEBER.pkce_for_confidential is False
    assert AWEBER.account_path == "/accounts"


def test_constant_contact_profile() -> None:
    assert CONSTANT_CONTACT.token_url.endswith("/oauth2/default/v1/token")
    assert CONSTANT_CONTACT.read_jwt_exp
    assert not CONSTANT_CONTACT.pkce_for_confidential
    assert "offline_access" in CONSTANT_CONTACT.default_scopes
    assert CONSTANT_CONTACT.account_path == "/account/summary"


def test_with_bases_keeps_paths() -> None:
    moved = AWEBER.with_bases("http://127.0.0.1:9000/", "http://127.0.0.1:9000/1.0/")
    assert moved.authorize_url == "http://127.0.0.1:9000/oauth2/authorize"
    assert moved.token_url == "http://127.0.0.1:9000/oauth2/token"
    assert moved.revoke_url == "http://127.0.0.1:9000/oauth2/revoke"
    assert moved.api_base == "http://127.0.0.1:9000/1.0"
    assert moved.name == "aweber"
    assert AWEBER.token_url.startswith("https://auth.aweber.com")  # the original is unchanged


def test_with_bases_constant_contact() -> None:
    moved = CONSTANT_CONTACT.with_bases("http://h:1", "http://h:1/v3")
    assert moved.token_url == "http://h:1/oauth2/default/v1/token"
    assert moved.revoke_url is None
    assert moved.api_base == "http://h:1/v3"


def test_with_bases_none_is_identity() -> None:
    assert AWEBER.with_bases() == AWEBER
    assert AWEBER.with_bases(api_base="http://x/1.0").token_url == AWEBER.token_url


def test_with_urls() -> None:
    moved = AWEBER.with_urls(token_url="http://t/token")
    assert moved.token_url == "http://t/token"
    assert moved.authorize_url == AWEBER.authorize_url


@pytest.mark.parametrize("bad", ["ftp://x", "not a url", "http://", "/relative"])
def test_bad_base_urls(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="absolute http"):
        AWEBER.with_bases(bad)


def test_custom_provider() -> None:
    p = custom_provider(
        authorize_url="https://idp/authorize",
        token_url="https://idp/token",
        api_base="https://api/",
        scopes=("read",),
        client_auth="post",
    )
    assert p.name == "custom"
    assert p.api_base == "https://api"
    assert p.default_scopes == ("read",)
    assert p.confidential_auth == "post"
    assert p.revoke_url is None
    assert p.pkce_for_confidential


def test_custom_provider_needs_urls() -> None:
    with pytest.raises(ConfigurationError, match="token_url"):
        custom_provider(authorize_url="https://idp/authorize", token_url="")


def test_get_provider() -> None:
    assert get_provider("aweber") is AWEBER
    assert set(PROVIDERS) == {"aweber", "constantcontact"}
    with pytest.raises(ConfigurationError, match="aweber, constantcontact"):
        get_provider("mailchimp")
