"""Settings loading: precedence (flags > environment > config file > provider) and validation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from oob_helper.config import Settings, describe, load_settings, read_config_file, redact_url
from oob_helper.errors import ConfigurationError
from oob_helper.providers import AWEBER, CONSTANT_CONTACT, OOB_REDIRECT_URI

BASE_ENV = {"OOB_HELPER_CLIENT_ID": "env-client"}


def load(
    overrides: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    return load_settings(
        overrides=overrides or {},
        environ=BASE_ENV if environ is None else environ,
        config_file=config_file,
    )


def write_toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "oob.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_are_the_aweber_public_client() -> None:
    settings = load()
    assert settings.provider == AWEBER
    assert settings.client_id == "env-client"
    assert settings.is_public
    assert settings.effective_client_auth == "none"
    assert settings.effective_scopes == AWEBER.default_scopes
    assert settings.redirect_uri == OOB_REDIRECT_URI
    assert settings.store_url is None


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        'client_id = "file-client"\nscopes = ["a.read", "b.read"]\nstore = "sqlite:////f.db"\n'
        'redirect_uri = "http://127.0.0.1:8000/callback"\n',
    )
    env = {"OOB_HELPER_CLIENT_ID": "env-client", "OOB_HELPER_STORE": "memory://"}
    only_file = load(environ={}, config_file=path)
    assert only_file.client_id == "file-client"
    assert only_file.scopes == ("a.read", "b.read")
    assert only_file.store_url == "sqlite:////f.db"
    assert only_file.redirect_uri == "http://127.0.0.1:8000/callback"

    with_env = load(environ=env, config_file=path)
    assert with_env.client_id == "env-client"
    assert with_env.store_url == "memory://"
    assert with_env.scopes == ("a.read", "b.read")

    with_flag = load({"client_id": "flag-client", "store": None}, environ=env, config_file=path)
    assert with_flag.client_id == "flag-client"
    assert with_flag.store_url == "memory://"  # a None flag is "not given"


def test_empty_values_count_as_unset() -> None:
    settings = load({"client_id": ""}, environ={"OOB_HELPER_CLIENT_ID": "x", "OOB_HELPER_CLIENT_SECRET": ""})
    assert settings.client_id == "x"
    assert settings.is_public


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'client_id = "from-file"\nprovider = "constantcontact"\n')
    settings = load(environ={"OOB_HELPER_CONFIG": path})
    assert settings.client_id == "from-file"
    assert settings.provider == CONSTANT_CONTACT


def test_config_flag_beats_config_environment(tmp_path: Path) -> None:
    first = write_toml(tmp_path, 'client_id = "first"\n')
    second = tmp_path / "second.toml"
    second.write_text('client_id = "second"\n', encoding="utf-8")
    settings = load(environ={"OOB_HELPER_CONFIG": first}, config_file=str(second))
    assert settings.client_id == "second"


def test_confidential_client_from_file_secret_is_hidden(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'client_id = "c"\nclient_secret = "s3cret-value"\n')
    settings = load(environ={}, config_file=path)
    assert not settings.is_public
    assert settings.effective_client_auth == "basic"
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in str(describe(settings))


def test_bases_move_the_provider_endpoints() -> None:
    settings = load(
        environ={
            **BASE_ENV,
            "OOB_HELPER_AUTH_BASE": "http://127.0.0.1:9999/",
            "OOB_HELPER_API_BASE": "http://127.0.0.1:9999/1.0",
        }
    )
    assert settings.provider.authorize_url == "http://127.0.0.1:9999/oauth2/authorize"
    assert settings.provider.token_url == "http://127.0.0.1:9999/oauth2/token"
    assert settings.provider.revoke_url == "http://127.0.0.1:9999/oauth2/revoke"
    assert settings.provider.api_base == "http://127.0.0.1:9999/1.0"


def test_full_urls_override_the_bases() -> None:
    settings = load(
        {"token_url": "https://other.example/token"},
        environ={**BASE_ENV, "OOB_HELPER_AUTH_BASE": "http://127.0.0.1:9999"},
    )
    assert settings.provider.authorize_url == "http://127.0.0.1:9999/oauth2/authorize"
    assert settings.provider.token_url == "https://other.example/token"


def test_custom_provider_takes_every_url() -> None:
    settings = load(
        environ={
            **BASE_ENV,
            "OOB_HELPER_PROVIDER": "custom",
            "OOB_HELPER_AUTHORIZE_URL": "https://idp.example/authorize",
            "OOB_HELPER_TOKEN_URL": "https://idp.example/token",
            "OOB_HELPER_SCOPES": "openid  email",
            "OOB_HELPER_CLIENT_SECRET": "x" * 20,
            "OOB_HELPER_CLIENT_AUTH": "POST",
        }
    )
    assert settings.provider.name == "custom"
    assert settings.provider.token_url == "https://idp.example/token"
    assert settings.provider.revoke_url is None
    assert settings.scopes == ("openid", "email")
    assert settings.effective_client_auth == "post"


def test_secret_key_and_store_are_read() -> None:
    settings = load(
        environ={
            **BASE_ENV,
            "OOB_HELPER_SECRET_KEY": "k" * 32,
            "OOB_HELPER_STORE": "postgresql://u:pw@db/oob",
        }
    )
    assert settings.secret_key == "k" * 32
    assert settings.store_url == "postgresql://u:pw@db/oob"
    assert "pw" not in describe(settings)["store"]


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_url("postgresql://app:hunter2@db/oob") == "postgresql://app:***@db/oob"
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("environ", "overrides", "needles"),
    [
        ({}, {}, ["missing client id", "OOB_HELPER_CLIENT_ID", "--client-id"]),
        ({"OOB_HELPER_PROVIDER": "mailchimp"}, {}, ["unknown provider", "mailchimp", "aweber", "custom"]),
        ({}, {"provider": "nope"}, ["--provider", "constantcontact"]),
        ({"OOB_HELPER_AUTH_BASE": "ftp://mock"}, {}, ["OOB_HELPER_AUTH_BASE", "http(s) URL", "ftp://mock"]),
        ({"OOB_HELPER_API_BASE": "localhost:8081/1.0"}, {}, ["OOB_HELPER_API_BASE", "absolute"]),
        ({}, {"token_url": "https://x.example/t#frag"}, ["--token-url", "fragment"]),
        ({}, {"token_url": "http://[::1/token"}, ["--token-url", "absolute"]),
        ({}, {"auth_base": "http://127.0.0.1:99999"}, ["--auth-base", "absolute"]),
        ({"OOB_HELPER_STORE": "redis://h:notaport/0"}, {}, ["OOB_HELPER_STORE", "port cannot be read"]),
        ({}, {"revoke_url": "javascript:alert(1)"}, ["--revoke-url", "http(s)"]),
        (
            {"OOB_HELPER_PROVIDER": "custom"},
            {},
            ["custom provider", "OOB_HELPER_AUTHORIZE_URL", "OOB_HELPER_TOKEN_URL"],
        ),
        (
            {"OOB_HELPER_PROVIDER": "custom", "OOB_HELPER_AUTHORIZE_URL": "https://i.example/a"},
            {},
            ["OOB_HELPER_TOKEN_URL"],
        ),
        (
            {
                "OOB_HELPER_PROVIDER": "custom",
                "OOB_HELPER_AUTHORIZE_URL": "https://i.example/a",
                "OOB_HELPER_TOKEN_URL": "https://i.example/t",
                "OOB_HELPER_AUTH_BASE": "https://i.example",
            },
            {},
            ["OOB_HELPER_AUTH_BASE", "does not apply"],
        ),
        ({"OOB_HELPER_REDIRECT_URI": "callback"}, {}, ["OOB_HELPER_REDIRECT_URI", OOB_REDIRECT_URI]),
        ({}, {"redirect_uri": "urn:ietf:wg:oauth:2.0:oob:auto"}, ["--redirect-uri"]),
        ({}, {"redirect_uri": "https://app.example/cb#x"}, ["--redirect-uri", "fragment"]),
        ({"OOB_HELPER_CLIENT_AUTH": "jwt"}, {}, ["unknown client authentication", "basic", "post", "none"]),
        ({"OOB_HELPER_CLIENT_AUTH": "basic"}, {}, ["needs a client secret", "OOB_HELPER_CLIENT_SECRET"]),
        ({}, {"client_auth": "post"}, ["needs a client secret", "--client-auth"]),
        (
            {"OOB_HELPER_CLIENT_AUTH": "none", "OOB_HELPER_CLIENT_SECRET": "a-secret-value"},
            {},
            ["client authentication is none", "OOB_HELPER_CLIENT_SECRET"],
        ),
        ({"OOB_HELPER_SCOPES": 'account.read "list.read"'}, {}, ["OOB_HELPER_SCOPES", "separate scopes"]),
        ({"OOB_HELPER_STORE": "mysql://db/x"}, {}, ["OOB_HELPER_STORE", "sqlite:///relative/path.db"]),
        ({"OOB_HELPER_STORE": "sqlite://"}, {}, ["OOB_HELPER_STORE", "file's path"]),
        ({"OOB_HELPER_SECRET_KEY": "short"}, {}, ["OOB_HELPER_SECRET_KEY", "at least 16"]),
    ],
)
def test_bad_settings_name_the_setting_and_the_fix(
    environ: dict[str, str], overrides: dict[str, str], needles: list[str]
) -> None:
    env = {**BASE_ENV, **environ} if "missing client id" not in needles else environ
    with pytest.raises(ConfigurationError) as info:
        load(overrides, environ=env)
    message = str(info.value)
    for needle in needles:
        assert needle in message
    assert ": " in message  # problem, then the fix


def test_secret_values_never_appear_in_errors() -> None:
    env = {
        **BASE_ENV,
        "OOB_HELPER_CLIENT_SECRET": "very-secret-client-secret",
        "OOB_HELPER_CLIENT_AUTH": "none",
        "OOB_HELPER_STORE": "ftp://user:very-secret-pw@host/x",
    }
    with pytest.raises(ConfigurationError) as info:
        load(environ=env)
    assert "very-secret" not in str(info.value)
    env.pop("OOB_HELPER_CLIENT_AUTH")
    with pytest.raises(ConfigurationError) as info:
        load(environ=env)
    assert "very-secret" not in str(info.value)
    assert "***" in str(info.value)


def test_secret_key_error_does_not_echo_the_key() -> None:
    with pytest.raises(ConfigurationError) as info:
        load(environ={**BASE_ENV, "OOB_HELPER_SECRET_KEY": "tiny-key"})
    assert "tiny-key" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("client_id = \n", ["not valid TOML", "line 1"]),
        ('clientid = "x"\n', ["unknown setting 'clientid'", "client_id"]),
        ("client_id = 42\n", ["client_id must be a string", "quote"]),
        ("scopes = [1, 2]\n", ["scopes must be a string or a list of strings"]),
        ('[client]\nid = "x"\n', ["unknown setting 'client'"]),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = write_toml(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        read_config_file(path)
    for needle in needles:
        assert needle in str(info.value)
    assert path in str(info.value)


def test_missing_config_file_says_how_to_fix(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigurationError, match=r"does not exist.*OOB_HELPER_CONFIG"):
        load(environ={"OOB_HELPER_CONFIG": missing})


def test_unknown_override_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting"):
        load({"colour": "blue"})
