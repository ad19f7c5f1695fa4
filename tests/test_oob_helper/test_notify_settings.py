"""Notification settings at the edge: flags, OOB_HELPER_NOTIFY_* and the config file; every bad
value a clear error naming the setting and the fix; secrets never echoed (issue 13, part 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from oob_helper.config import Settings, describe, load_settings
from oob_helper.errors import ConfigurationError
from oob_helper.helper import OAuthHelper
from oob_helper.notify.email import compose
from oob_helper.notify.settings import DEFAULT_CONDITIONS
from oob_helper.notify.webhook import sign, verify
from oob_helper.stores import open_store

SECRET = "whsec-" + "s" * 40
PASSWORD = "smtp-password-never-shown"
WEBHOOK = {
    "OOB_HELPER_NOTIFY_WEBHOOK_URL": "https://hooks.example/in/tok-en",
    "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": SECRET,
}
MAIL = {
    "OOB_HELPER_NOTIFY_SMTP_HOST": "smtp.example",
    "OOB_HELPER_NOTIFY_FROM": "oob@example.com",
    "OOB_HELPER_NOTIFY_TO": "a@example.com, Ops <ops@example.com>",
}


def load(
    environ: Mapping[str, str],
    overrides: Mapping[str, str | None] | None = None,
    config_file: str | None = None,
) -> Settings:
    return load_settings(
        overrides=overrides or {}, environ={"OOB_HELPER_CLIENT_ID": "c", **environ}, config_file=config_file
    )


def test_nothing_configured_sends_nothing() -> None:
    settings = load({})
    assert not settings.notify.enabled
    helper = OAuthHelper(settings, open_store("memory://"))
    assert helper.notifier is None
    assert not helper.records.events  # no subscriber: the hot path pays nothing
    helper.close()


def test_webhook_and_mail_from_the_environment() -> None:
    notify = load(
        {**WEBHOOK, **MAIL, "OOB_HELPER_NOTIFY_SMTP_USER": "u", "OOB_HELPER_NOTIFY_SMTP_PASSWORD": PASSWORD}
    ).notify
    assert notify.webhook_url == "https://hooks.example/in/tok-en"
    assert notify.webhook_secret == SECRET
    assert (notify.smtp_host, notify.smtp_port, notify.smtp_starttls) == ("smtp.example", 587, True)
    assert (notify.smtp_user, notify.smtp_password) == ("u", PASSWORD)
    assert notify.mail_to == ("a@example.com", "Ops <ops@example.com>")
    assert notify.conditions == DEFAULT_CONDITIONS
    assert notify.conditions == (
        "reauthorization_required",
        "refresh_failed",
        "refresh_token_expiring",
        "refresh_overdue",
        "clone_detected",
    )


def test_flags_beat_environment_and_the_file_gives_lists(tmp_path: Path) -> None:
    path = tmp_path / "oob.toml"
    path.write_text(
        'notify_smtp_host = "file.example"\nnotify_smtp_port = 2525\nnotify_smtp_starttls = false\n'
        'notify_from = "f@example.com"\nnotify_to = ["x@example.com", "y@example.com"]\n'
        'notify_events = ["connected", "refresh_failed_transient"]\n',
        encoding="utf-8",
    )
    from_file = load({}, config_file=str(path)).notify
    assert (from_file.smtp_host, from_file.smtp_port, from_file.smtp_starttls) == (
        "file.example",
        2525,
        False,
    )
    assert from_file.mail_to == ("x@example.com", "y@example.com")
    assert from_file.conditions == ("connected", "refresh_failed_transient")
    flagged = load(
        {"OOB_HELPER_NOTIFY_SMTP_HOST": "env.example"},
        overrides={"notify_smtp_host": "flag.example", "notify_smtp_port": "25"},
        config_file=str(path),
    ).notify
    assert (flagged.smtp_host, flagged.smtp_port) == ("flag.example", 25)
    assert load({**MAIL, "OOB_HELPER_NOTIFY_SMTP_STARTTLS": "off"}).notify.smtp_port == 25


def test_the_cli_has_flags_for_every_notify_setting_but_the_secrets() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oob_helper", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for flag in (
        "--notify-webhook-url",
        "--notify-smtp-host",
        "--notify-smtp-port",
        "--notify-smtp-starttls",
        "--notify-smtp-user",
        "--notify-from",
        "--notify-to",
        "--notify-events",
        "--notify-page-url",
    ):
        assert flag in result.stdout
    assert "--notify-webhook-secret" not in result.stdout
    assert "--notify-smtp-password" not in result.stdout


@pytest.mark.parametrize(
    ("environ", "needles"),
    [
        (
            {"OOB_HELPER_NOTIFY_WEBHOOK_URL": "ftp://x/y", "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": SECRET},
            ["OOB_HELPER_NOTIFY_WEBHOOK_URL", "absolute http(s) URL", "--notify-webhook-url"],
        ),
        (
            {
                "OOB_HELPER_NOTIFY_WEBHOOK_URL": "https://u:p@h.example/",
                "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": SECRET,
            },
            ["must not carry a user or password"],
        ),
        (
            {"OOB_HELPER_NOTIFY_WEBHOOK_URL": "https://h.example/"},
            ["no signing secret", "OOB_HELPER_NOTIFY_WEBHOOK_SECRET"],
        ),
        (
            {
                "OOB_HELPER_NOTIFY_WEBHOOK_URL": "https://h.example/",
                "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": "short-secret",
            },
            ["too short", "at least 32"],
        ),
        (
            {"OOB_HELPER_NOTIFY_WEBHOOK_SECRET": SECRET},
            ["there is no webhook", "OOB_HELPER_NOTIFY_WEBHOOK_URL"],
        ),
        (
            {"OOB_HELPER_NOTIFY_SMTP_HOST": "smtp.example", "OOB_HELPER_NOTIFY_FROM": "a@example.com"},
            ["at least one recipient", "OOB_HELPER_NOTIFY_TO"],
        ),
        (
            {"OOB_HELPER_NOTIFY_SMTP_HOST": "smtp.example", "OOB_HELPER_NOTIFY_TO": "a@example.com"},
            ["need a sender", "OOB_HELPER_NOTIFY_FROM"],
        ),
        (
            {**MAIL, "OOB_HELPER_NOTIFY_TO": "a@example.com, not-an-address"},
            ["'not-an-address' is not an email address"],
        ),
        ({**MAIL, "OOB_HELPER_NOTIFY_FROM": "a@example.com\nBcc: evil@example.com"}, ["on one line"]),
        ({**MAIL, "OOB_HELPER_NOTIFY_SMTP_PORT": "70000"}, ["OOB_HELPER_NOTIFY_SMTP_PORT", "1 to 65535"]),
        ({**MAIL, "OOB_HELPER_NOTIFY_SMTP_STARTTLS": "maybe"}, ["must be on or off"]),
        (
            {**MAIL, "OOB_HELPER_NOTIFY_SMTP_HOST": "smtp.example:587"},
            ["host name or address only", "OOB_HELPER_NOTIFY_SMTP_PORT"],
        ),
        (
            {**MAIL, "OOB_HELPER_NOTIFY_SMTP_USER": "u"},
            ["without smtp password", "OOB_HELPER_NOTIFY_SMTP_PASSWORD"],
        ),
        ({**MAIL, "OOB_HELPER_NOTIFY_SMTP_PASSWORD": PASSWORD}, ["without smtp user", "--notify-smtp-user"]),
        ({"OOB_HELPER_NOTIFY_TO": "a@example.com"}, ["no SMTP server", "OOB_HELPER_NOTIFY_SMTP_HOST"]),
        (
            {**MAIL, "OOB_HELPER_NOTIFY_EVENTS": "reauthorization_required, sunspots"},
            ["unknown condition(s) sunspots", "clone_detected"],
        ),
        (
            {**MAIL, "OOB_HELPER_NOTIFY_PAGE_URL": "admin page"},
            ["OOB_HELPER_NOTIFY_PAGE_URL", "absolute http(s) URL"],
        ),
    ],
)
def test_bad_settings_name_the_setting_and_the_fix(environ: dict[str, str], needles: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        load(environ)
    for needle in needles:
        assert needle in str(info.value)


def test_secrets_never_appear_in_errors_reprs_or_describe() -> None:
    for environ in (
        {
            "OOB_HELPER_NOTIFY_WEBHOOK_URL": "https://h.example/",
            "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": "short-but-secret",
        },
        {
            "OOB_HELPER_NOTIFY_WEBHOOK_URL": "not a url with /path-tok3n",
            "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": SECRET,
        },
        {**MAIL, "OOB_HELPER_NOTIFY_SMTP_PASSWORD": PASSWORD},
    ):
        with pytest.raises(ConfigurationError) as info:
            load(environ)
        for secret in ("short-but-secret", "path-tok3n", SECRET, PASSWORD):
            assert secret not in str(info.value)
    settings = load(
        {**WEBHOOK, **MAIL, "OOB_HELPER_NOTIFY_SMTP_USER": "u", "OOB_HELPER_NOTIFY_SMTP_PASSWORD": PASSWORD}
    )
    helper = OAuthHelper(settings, open_store("memory://"))
    shown = repr(settings) + repr(settings.notify) + str(describe(settings)) + repr(helper.notifier)
    helper.close()
    for secret in (SECRET, PASSWORD, "tok-en"):
        assert secret not in shown
    assert describe(settings)["notify"]["webhook"] == "https://hooks.example"
    assert "smtp.example:587" in repr(helper.notifier)


@pytest.mark.parametrize("command", [["status"], ["serve", "--port", "0"], ["refresh", "--all"]])
def test_a_bad_setting_is_one_line_and_exit_2_at_the_cli(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    env |= {
        "OOB_HELPER_STORE": f"sqlite:///{tmp_path / 't.db'}",
        "OOB_HELPER_CLIENT_ID": "c",
        "OOB_HELPER_NOTIFY_WEBHOOK_URL": "https://h.example/",
        "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": "tiny-secret",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "oob_helper", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "OOB_HELPER_NOTIFY_WEBHOOK_SECRET is too short" in result.stderr
    assert "tiny-secret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_signature_and_its_check() -> None:
    body = b'{"kind":"connected"}'
    headers = {"oob-helper-timestamp": "1000", "oob-helper-signature": sign(SECRET, 1000, body)}
    assert verify(SECRET, headers, body, now=1100)
    assert not verify(SECRET, headers, body + b" ", now=1100)  # the exact body
    assert not verify("x" * 40, headers, body, now=1100)
    assert not verify(SECRET, headers, body, now=1000 + 301)  # too old: a replay
    assert not verify(SECRET, {**headers, "oob-helper-timestamp": "1001"}, body, now=1100)


def test_mail_says_what_happened_and_what_to_do() -> None:
    payload = {
        "kind": "refresh_failed",
        "install": "shop.example",
        "at": 0.0,
        "error": "invalid_client",
        "reason": "client authentication failed",
        "transient": False,
        "account_id": "123",
    }
    message = compose(
        "refresh_failed",
        payload,
        service="AWeber",
        mail_from="f@example.com",
        mail_to=("a@example.com", "b@example.com"),
        page_url="https://admin.example/p/{install}",
    )
    assert message["Subject"] == "[oob-helper] shop.example: refresh failed"
    assert message["To"] == "a@example.com, b@example.com"
    text = message.get_content()
    assert "error invalid_client: client authentication failed" in text
    assert "1970-01-01 00:00:00 UTC" in text
    assert "check the client id and secret" in text
    assert "Reconnect at https://admin.example/p/shop.example" in text
    odd = compose(
        "reauthorization_required",
        {**payload, "install": "a b/c"},
        service="AWeber",
        mail_from="f@example.com",
        mail_to=("a@example.com",),
        page_url="https://admin.example/p/{install}",
    )
    assert "Reconnect at https://admin.example/p/a%20b%2Fc" in odd.get_content()


def test_the_readme_verification_snippet_accepts_a_signed_body_and_refuses_a_replay() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (snippet,) = [
        b for b in readme.split("```python\n") if b.lstrip().startswith("import hashlib, hmac, time")
    ]
    namespace: dict[str, object] = {}
    exec(snippet.split("```")[0], namespace)  # the README's own example, run as written
    verified = namespace["verified"]
    assert callable(verified)
    body = b'{"kind":"reauthorization_required"}'
    now = int(time.time())
    fresh = {"oob-helper-timestamp": str(now), "oob-helper-signature": sign(SECRET, now, body)}
    old = {"oob-helper-timestamp": str(now - 600), "oob-helper-signature": sign(SECRET, now - 600, body)}
    assert verified(SECRET, fresh, body)
    assert not verified(SECRET, fresh, body + b"x")
    assert not verified(SECRET, old, body)  # a replay of a captured request
