"""Notifiers (webhook and email) against real local receivers and the live mock (issue 13, part 2).

The webhook receiver is a Starlette endpoint under uvicorn that checks the signature; the mail
server is aiosmtpd; both on loopback (tests/test_oob_helper/notify_receivers.py). The helper is
configured through the real settings edge (``OOB_HELPER_NOTIFY_*``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_receivers import Inbox, WebhookReceiver, free_port, smtp_server, tls_contexts, webhook_receiver
from secret_sweep import SecretSweep
from stores.backends import CROSS_PROCESS, make_backend
from workers.common import MutableClock, Target, connect, open_helper
from workers.pool import Gate, Pool

from mock_server.runner import MockServer
from oob_helper.config import load_settings
from oob_helper.helper import OAuthHelper
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.notify.delivery import Backoff
from oob_helper.notify.notifier import Notifier
from oob_helper.stores import open_store

INSTALL = "notify.example"
SECRET = "whsec-" + "k3y" * 12  # the webhook signing secret of this run
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-pa55word-of-the-run"
PAGE = "https://admin.example/oob/{install}"
PATH_TOKEN = "pathtok-" + "9" * 16
AWEBER_ACCESS_TTL = 7200
PROCESSES, THREADS = 8, 2
FAST = Backoff(attempts=3, base=0.01, cap=0.05)


def notify_env(receiver: WebhookReceiver | None, inbox: Inbox | None, **extra: str) -> dict[str, str]:
    env = {"OOB_HELPER_NOTIFY_PAGE_URL": PAGE, **extra}
    if receiver is not None:
        env |= {"OOB_HELPER_NOTIFY_WEBHOOK_URL": receiver.url, "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": SECRET}
    if inbox is not None:
        env |= {
            "OOB_HELPER_NOTIFY_SMTP_HOST": "127.0.0.1",
            "OOB_HELPER_NOTIFY_SMTP_PORT": str(inbox.port),
            "OOB_HELPER_NOTIFY_SMTP_STARTTLS": "off",
            "OOB_HELPER_NOTIFY_FROM": "oob-helper@example.com",
            "OOB_HELPER_NOTIFY_TO": "ops@example.com, owner@example.com",
        }
        if inbox.user is not None:
            env |= {
                "OOB_HELPER_NOTIFY_SMTP_USER": SMTP_USER,
                "OOB_HELPER_NOTIFY_SMTP_PASSWORD": SMTP_PASSWORD,
            }
    return env


def notifying_helper(
    mock: MockServer, store_url: str, clock: MutableClock, env: dict[str, str], backoff: Backoff = FAST
) -> OAuthHelper:
    """The real helper with the notifiers ``env`` configures (short back-off for tests)."""
    notify = load_settings(overrides={}, environ=env, config_file=None, require_client_id=False).notify
    target = Target(mock.url, "demo-confidential", "demo-secret", profile="aweber")
    settings = dataclasses.replace(target.settings(store_url), notify=notify)
    helper = OAuthHelper(settings, open_store(store_url, encryption_keys=()), clock=clock)
    assert helper.notifier is not None
    for channel in (helper.notifier.webhook, helper.notifier.email):
        if channel is not None:
            channel.backoff = backoff
            channel.timeout = 2.0
    return helper


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    # A path holding a token, as hosted webhook URLs often do: it must never be logged.
    with webhook_receiver(SECRET, path=f"/hooks/{PATH_TOKEN}") as r:
        yield r


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_server(SMTP_USER, SMTP_PASSWORD) as i:
        yield i


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tokens.db'}"


def reauthorization_deliveries(receiver: WebhookReceiver) -> list[dict[str, object]]:
    return [d.json for d in receiver.deliveries if d.json["kind"] == "reauthorization_required"]


@pytest.mark.timeout(180)
def test_revoked_grant_notifies_once_by_webhook_and_email_across_8_processes(
    mock_aweber: MockServer,
    store_url: str,
    receiver: WebhookReceiver,
    inbox: Inbox,
    secret_sweep: SecretSweep,
) -> None:
    secret_sweep.watch_mock(mock_aweber)
    secret_sweep.add(SECRET, SMTP_PASSWORD, "demo-secret", PATH_TOKEN)
    clock = MutableClock(mock_aweber.now())
    env = notify_env(receiver, inbox)
    target = Target(mock_aweber.url, "demo-confidential", "demo-secret", profile="aweber")
    with open_helper(target, store_url, clock) as helper, Gate() as gate:
        record = connect(mock_aweber, helper, INSTALL)
        assert record.token is not None
        secret_sweep.add(record.token.access_token, record.token.refresh_token)
        assert mock_aweber.revoke_tokens() >= 1  # the user took the app's access away
        config = {
            "target": target.to_dict(),
            "store_url": store_url,
            "install": INSTALL,
            "threads": THREADS,
            "gate_port": gate.port,
            "notify_env": env,
        }
        with Pool("notify_worker", config, PROCESSES) as pool:
            clock.now = mock_aweber.advance_clock(AWEBER_ACCESS_TTL + 60)  # every worker must refresh
            pool.broadcast({"now": clock.now})
            gate.open(PROCESSES * THREADS)
            answers = pool.gather(120)
            grant = helper.status(INSTALL).grant_id
            # Every process now sees the same occurrence at once: the store's claim lets one send.
            repeat = LifecycleEvent("reauthorization_required", INSTALL, clock.now, grant_id=grant)
            pool.broadcast({"emit": repeat.to_dict()})
            repeats = pool.gather(120)
        assert all(a["drained"] for a in answers + repeats)
        errors = [r.get("error") for a in answers for r in a["results"]]
        assert errors == ["ReauthorizationRequired"] * (PROCESSES * THREADS)
        assert helper.status(INSTALL).state == "reauthorization_required"

    (event,) = reauthorization_deliveries(receiver)
    assert receiver.refused == 0
    assert len(receiver.deliveries) == 1
    assert event["install"] == INSTALL
    assert event["grant_id"] == grant
    assert event["condition"] == "reauthorization_required"
    assert "invalid_grant" in str(event["reason"])
    (delivery,) = receiver.deliveries
    assert len(delivery.headers["oob-helper-delivery"]) == 24

    assert len(inbox.messages) == 1
    (sender, recipients, message) = inbox.messages[0]
    assert inbox.logins  # the configured login was used
    assert sender == "oob-helper@example.com"
    assert recipients == ["ops@example.com", "owner@example.com"]
    assert message["Subject"] == f"[oob-helper] {INSTALL}: reconnect needed"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "AWeber no longer accepts this connection" in text
    assert f"Reconnect at https://admin.example/oob/{INSTALL}" in text

    secret_sweep.scan("webhook bodies and headers", *[(d.body, d.headers) for d in receiver.deliveries])
    secret_sweep.scan("mails", *[m.as_string() for _, _, m in inbox.messages])
    secret_sweep.scan("worker logs", *[a["log"] for a in answers + repeats])
    assert sum("already notified by webhook" in a["log"] for a in repeats) == PROCESSES
    secret_sweep.scan("settings", repr(helper.settings), repr(helper.notifier))
    assert any("notified by webhook" in a["log"] for a in answers)  # the logs were really scanned
    looked_for, scanned = secret_sweep.check()
    assert looked_for >= 5
    assert scanned >= 4


def test_a_reconnect_lets_the_next_revocation_notify_again(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver, inbox: Inbox
) -> None:
    clock = MutableClock(mock_aweber.now())
    with notifying_helper(mock_aweber, store_url, clock, notify_env(receiver, inbox)) as helper:
        assert helper.notifier is not None
        grants = []
        for _ in range(2):
            connect(mock_aweber, helper, INSTALL)
            grants.append(helper.status(INSTALL).grant_id)
            mock_aweber.revoke_tokens()
            for _ in range(3):  # the install keeps failing: still one notification
                assert helper.refresh(INSTALL).result == "reauthorization_required"
            helper.notifier.drain()
        # A synthetic repeat of the first occurrence (another process seeing it): throttled.
        helper.notifier(LifecycleEvent("reauthorization_required", INSTALL, clock.now, grant_id=grants[1]))
        helper.notifier.drain()
    assert [d["grant_id"] for d in reauthorization_deliveries(receiver)] == grants
    assert len(inbox.messages) == 2


def test_a_permanent_refresh_failure_notifies_again_only_after_a_refresh_succeeded(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver
) -> None:
    clock = MutableClock(mock_aweber.now())
    invalid_client = {"error": "invalid_client", "error_description": "client authentication failed"}
    env = notify_env(receiver, None, OOB_HELPER_NOTIFY_EVENTS="refresh_failed")
    with notifying_helper(mock_aweber, store_url, clock, env) as helper:
        assert helper.notifier is not None
        connect(mock_aweber, helper, INSTALL)
        mock_aweber.add_fault("/oauth2/token", status=401, body=invalid_client, count=2)
        assert [helper.refresh(INSTALL).result for _ in range(2)] == ["failed", "failed"]
        helper.notifier.drain()
        assert len(receiver.deliveries) == 1
        clock.now += 10
        assert helper.refresh(INSTALL).result == "refreshed"  # the condition cleared
        mock_aweber.add_fault("/oauth2/token", status=401, body=invalid_client, count=1)
        assert helper.refresh(INSTALL).result == "failed"
        helper.notifier.drain()
    conditions = [(d.json["kind"], d.json["transient"], d.json["error"]) for d in receiver.deliveries]
    assert conditions == [("refresh_failed", False, "invalid_client")] * 2


def test_transient_failures_do_not_notify_by_default(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver
) -> None:
    clock = MutableClock(mock_aweber.now())
    with notifying_helper(mock_aweber, store_url, clock, notify_env(receiver, None)) as helper:
        assert helper.notifier is not None
        connect(mock_aweber, helper, INSTALL)
        mock_aweber.add_fault("/oauth2/token", status=503, count=10)
        assert helper.refresh(INSTALL).result == "failed"
        helper.notifier.drain()
        mock_aweber.clear_faults()
        mock_aweber.revoke_tokens()
        helper.refresh(INSTALL)
        helper.notifier.drain()
    assert [d.json["kind"] for d in receiver.deliveries] == ["reauthorization_required"]


@pytest.mark.parametrize("backend", CROSS_PROCESS)
def test_one_deployment_notifies_once_from_many_store_connections(
    mock_aweber: MockServer,
    receiver: WebhookReceiver,
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Eight notifiers on their own connections to one store (each backend) see the same event
    at once: one delivery."""
    store_url = make_backend(backend, tmp_path, request).url
    target = Target(mock_aweber.url, "demo-confidential", "demo-secret", profile="aweber")
    with open_helper(target, store_url, MutableClock(time.time())) as helper:
        grant = connect(mock_aweber, helper, INSTALL).grant_id
    env = notify_env(receiver, None)
    settings = load_settings(overrides={}, environ=env, config_file=None, require_client_id=False).notify
    notifiers = [
        Notifier.from_settings(
            settings, open_store(store_url), clock=time.time, service="AWeber", backoff=FAST
        )
        for _ in range(8)
    ]
    event = LifecycleEvent("reauthorization_required", INSTALL, time.time(), grant_id=grant, reason="revoked")
    threads = [threading.Thread(target=n, args=(event,)) for n in notifiers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in notifiers:
        assert n.drain()
        n.close()
        n.store.close()
    assert len(receiver.deliveries) == 1


def test_a_failing_receiver_gets_bounded_retries_and_the_refresh_completes(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = MutableClock(mock_aweber.now())
    env = notify_env(receiver, None, OOB_HELPER_NOTIFY_EVENTS="refreshed")
    with notifying_helper(mock_aweber, store_url, clock, env) as helper:
        assert helper.notifier is not None
        connect(mock_aweber, helper, INSTALL)
        receiver.answers = [503] * 10
        assert helper.refresh(INSTALL).result == "refreshed"
        helper.notifier.drain()
        assert receiver.requests == FAST.attempts  # bounded: then it gave up
        assert "failed after 3 attempts: the receiver answered 503" in caplog.text
        # Given up, the claim was released: the next process to see it may try again.
        receiver.answers = [429, 500]
        helper.notifier(
            LifecycleEvent("refreshed", INSTALL, clock.now, grant_id=helper.status(INSTALL).grant_id)
        )
        helper.notifier.drain()
        assert receiver.requests == FAST.attempts + 3
        assert len(receiver.deliveries) == 1  # the third attempt was taken
        receiver.answers = [400]  # a refusal is not retried
        clock.now += 10
        assert helper.refresh(INSTALL).result == "refreshed"
        helper.notifier.drain()
    assert receiver.requests == FAST.attempts + 4
    assert "refused: the receiver answered 400" in caplog.text
    hidden = receiver.url.split("/hooks/")[0] + "/..."
    assert f"HTTP Request: POST {hidden}" in caplog.text  # httpx logs the request, its path hidden
    assert PATH_TOKEN not in caplog.text


def test_a_slow_receiver_never_slows_a_refresh(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver
) -> None:
    clock = MutableClock(mock_aweber.now())
    env = notify_env(receiver, None, OOB_HELPER_NOTIFY_EVENTS="refreshed")
    with notifying_helper(mock_aweber, store_url, clock, env, Backoff(attempts=2, base=0.01)) as helper:
        assert helper.notifier is not None
        assert helper.notifier.webhook is not None
        helper.notifier.webhook.timeout = 0.5
        connect(mock_aweber, helper, INSTALL)
        receiver.hold, receiver.held_for = threading.Event(), 30.0  # held until the test lets go
        clock.now += 10
        assert helper.refresh(INSTALL).result == "refreshed"
        deadline = time.monotonic() + 10
        while receiver.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the receiver holds the first notification
        assert receiver.requests == 1
        for _ in range(2):
            clock.now += 10
            assert helper.refresh(INSTALL).result == "refreshed"  # while the receiver holds
        assert helper.notifier.drain(20)  # each attempt timed out after 0.5 s; bounded retries
        assert receiver.deliveries == []
        receiver.hold.set()
    deadline = time.monotonic() + 10
    while receiver.refused + len(receiver.deliveries) < receiver.requests and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the held requests to finish (they answer once released)
    assert receiver.requests == 3 * 2


def test_an_unreachable_receiver_and_mail_server_never_break_a_refresh(
    mock_aweber: MockServer, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    down = f"http://127.0.0.1:{free_port()}/hooks/notify"
    env = notify_env(None, None, OOB_HELPER_NOTIFY_EVENTS="refreshed reauthorization_required")
    env |= {
        "OOB_HELPER_NOTIFY_WEBHOOK_URL": down,
        "OOB_HELPER_NOTIFY_WEBHOOK_SECRET": SECRET,
        "OOB_HELPER_NOTIFY_SMTP_HOST": "127.0.0.1",
        "OOB_HELPER_NOTIFY_SMTP_PORT": str(free_port()),
        "OOB_HELPER_NOTIFY_SMTP_STARTTLS": "off",
        "OOB_HELPER_NOTIFY_FROM": "oob-helper@example.com",
        "OOB_HELPER_NOTIFY_TO": "ops@example.com",
    }
    clock = MutableClock(mock_aweber.now())
    with notifying_helper(mock_aweber, store_url, clock, env) as helper:
        assert helper.notifier is not None
        connect(mock_aweber, helper, INSTALL)
        assert helper.refresh(INSTALL).result == "refreshed"
        mock_aweber.revoke_tokens()
        assert helper.refresh(INSTALL).result == "reauthorization_required"
        assert helper.notifier.drain()
    failures = [r.getMessage() for r in caplog.records if "failed after 3 attempts" in r.getMessage()]
    assert len(failures) == 4  # two events, two channels, each given up after its retries
    assert any("cannot reach 127.0.0.1" in f for f in failures)
    assert any("no answer from 127.0.0.1" in f for f in failures)


def test_mail_without_a_required_login_is_refused_and_logged(
    mock_aweber: MockServer, store_url: str, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    env = notify_env(None, inbox)
    env["OOB_HELPER_NOTIFY_SMTP_PASSWORD"] = "not-the-password"
    clock = MutableClock(mock_aweber.now())
    with notifying_helper(mock_aweber, store_url, clock, env) as helper:
        assert helper.notifier is not None
        connect(mock_aweber, helper, INSTALL)
        mock_aweber.revoke_tokens()
        assert helper.refresh(INSTALL).result == "reauthorization_required"
        helper.notifier.drain()
    assert inbox.messages == []
    assert "the SMTP server refused the login (code 535)" in caplog.text
    assert "not-the-password" not in caplog.text


def test_the_webhook_body_is_the_event_as_json(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver
) -> None:
    clock = MutableClock(mock_aweber.now())
    env = notify_env(receiver, None, OOB_HELPER_NOTIFY_EVENTS="connected")
    with notifying_helper(mock_aweber, store_url, clock, env) as helper:
        assert helper.notifier is not None
        record = connect(mock_aweber, helper, INSTALL)
        helper.notifier.drain()
    (delivery,) = receiver.deliveries
    assert delivery.headers["content-type"] == "application/json"
    assert json.loads(delivery.body) == {
        "kind": "connected",
        "condition": "connected",
        "install": INSTALL,
        "at": clock.now,
        "account_id": record.account_id,
        "grant_id": record.grant_id,
        "reason": None,
        "error": None,
        "transient": None,
        "duration": None,
        "lapses_at": None,  # set on refresh_token_expiring and refresh_overdue
    }
    logging.getLogger(__name__).debug("delivered %d", len(receiver.deliveries))


def test_the_cli_and_an_embedding_app_notify_from_their_settings(
    mock_aweber: MockServer,
    store_url: str,
    receiver: WebhookReceiver,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from oob_helper.cli import main  # noqa: PLC0415

    target = Target(mock_aweber.url, "demo-confidential", "demo-secret", profile="aweber")
    with open_helper(target, store_url, MutableClock(mock_aweber.now())) as helper:
        connect(mock_aweber, helper, INSTALL)
    mock_aweber.revoke_tokens()
    env = {
        "OOB_HELPER_AUTH_BASE": mock_aweber.url,
        "OOB_HELPER_API_BASE": mock_aweber.url + "/1.0",
        "OOB_HELPER_CLIENT_ID": "demo-confidential",
        "OOB_HELPER_CLIENT_SECRET": "demo-secret",
        "OOB_HELPER_STORE": store_url,
        **notify_env(receiver, inbox),
    }
    embedded = OAuthHelper.from_env(env)  # what an embedding app (and create_app) builds on
    assert embedded.notifier is not None
    assert embedded.notifier.webhook is not None
    assert embedded.notifier.email is not None
    embedded.close()
    for name in list(os.environ):
        if name.startswith("OOB_HELPER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["refresh", "--install", INSTALL])
    assert code != 0
    assert "must be connected again" in capsys.readouterr().err
    # The CLI closed its helper on the way out, after delivering what was queued.
    assert [d.json["kind"] for d in receiver.deliveries] == ["reauthorization_required"]
    assert len(inbox.messages) == 1


def test_an_event_whose_condition_cleared_before_its_turn_is_dropped(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver
) -> None:
    """fail, succeed, (queue released), fail: one notification, for the failure still current."""
    clock = MutableClock(mock_aweber.now())
    invalid_client = {"error": "invalid_client"}
    env = notify_env(receiver, None, OOB_HELPER_NOTIFY_EVENTS="connected refresh_failed")
    with notifying_helper(mock_aweber, store_url, clock, env) as helper:
        assert helper.notifier is not None
        receiver.hold, receiver.held_for = threading.Event(), 30.0
        connect(mock_aweber, helper, INSTALL)  # its notification holds the notifier's queue
        deadline = time.monotonic() + 10
        while receiver.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the receiver holds it
        mock_aweber.add_fault("/oauth2/token", status=401, body=invalid_client, count=1)
        assert helper.refresh(INSTALL).result == "failed"  # queued behind the held one
        clock.now += 10
        assert helper.refresh(INSTALL).result == "refreshed"  # the failure cleared
        receiver.hold.set()
        assert helper.notifier.drain()
        assert [d.json["kind"] for d in receiver.deliveries] == ["connected"]
        mock_aweber.add_fault("/oauth2/token", status=401, body=invalid_client, count=1)
        assert helper.refresh(INSTALL).result == "failed"
        assert helper.notifier.drain()
    assert [d.json["kind"] for d in receiver.deliveries] == ["connected", "refresh_failed"]


def test_mail_over_starttls_checks_the_certificate(
    mock_aweber: MockServer, store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """STARTTLS (the default) to a server whose certificate is trusted: delivered, login after
    the upgrade; the same server with the system's CAs: refused, and the password never sent."""
    server_tls, client_tls = tls_contexts(tmp_path)
    with smtp_server(SMTP_USER, SMTP_PASSWORD, tls=server_tls) as inbox:
        env = notify_env(None, inbox)
        del env["OOB_HELPER_NOTIFY_SMTP_STARTTLS"]  # on by default
        clock = MutableClock(mock_aweber.now())
        with notifying_helper(mock_aweber, store_url, clock, env) as helper:
            assert helper.notifier is not None
            assert helper.notifier.email is not None
            assert helper.notifier.email.starttls
            connect(mock_aweber, helper, INSTALL)
            mock_aweber.revoke_tokens()
            assert helper.refresh(INSTALL).result == "reauthorization_required"
            assert helper.notifier.drain()
            assert inbox.messages == []  # the test CA is not among the system's
            assert "the certificate of 127.0.0.1 is not trusted" in caplog.text
            assert inbox.logins == []
            helper.notifier.email.tls_context = client_tls
            connect(mock_aweber, helper, INSTALL)
            mock_aweber.revoke_tokens()
            assert helper.refresh(INSTALL).result == "reauthorization_required"
            assert helper.notifier.drain()
        assert len(inbox.messages) == 1
        assert inbox.logins == ["PLAIN"]  # the server allows a login only after STARTTLS


def test_a_delivery_one_process_gave_up_is_sent_by_the_next_that_sees_it(
    mock_aweber: MockServer, store_url: str, receiver: WebhookReceiver
) -> None:
    """claim, give up and release in one store connection; claim and deliver in another."""
    target = Target(mock_aweber.url, "demo-confidential", "demo-secret", profile="aweber")
    with open_helper(target, store_url, MutableClock(time.time())) as helper:
        grant = connect(mock_aweber, helper, INSTALL).grant_id
    settings = load_settings(
        overrides={}, environ=notify_env(receiver, None), config_file=None, require_client_id=False
    ).notify
    event = LifecycleEvent("reauthorization_required", INSTALL, time.time(), grant_id=grant)
    first, second = (
        Notifier.from_settings(
            settings, open_store(store_url), clock=time.time, service="AWeber", backoff=FAST
        )
        for _ in range(2)
    )
    try:
        receiver.answers = [503] * FAST.attempts
        first(event)
        assert first.drain()
        assert receiver.deliveries == []
        second(event)
        assert second.drain()
        assert len(receiver.deliveries) == 1
        first(event)  # delivered now: the first process stays quiet
        assert first.drain()
        assert len(receiver.deliveries) == 1
        assert receiver.requests == FAST.attempts + 1
    finally:
        for n in (first, second):
            n.close()
            n.store.close()


def test_an_expiring_refresh_token_is_notified_once_by_webhook_and_email(
    mock_aweber: MockServer,
    store_url: str,
    receiver: WebhookReceiver,
    inbox: Inbox,
    secret_sweep: SecretSweep,
) -> None:
    """Issue 13's acceptance: past the refresh-token lifetime's warning point (a 180-day idle
    lifetime, as Constant Contact's), ``refresh_token_expiring`` reaches each channel once,
    however often and by however many helpers the install is looked at."""
    secret_sweep.watch_mock(mock_aweber)
    clock = MutableClock(mock_aweber.now())
    env = notify_env(receiver, inbox)
    helpers = [notifying_helper(mock_aweber, store_url, clock, env) for _ in range(3)]
    try:
        for helper in helpers:
            helper.records.refresh_token_lifetime = 180 * 86400.0
        connect(mock_aweber, helpers[0], INSTALL)
        clock.now += 167 * 86400  # past the keepalive point and the 14-day warning
        for _ in range(3):
            for helper in helpers:
                helper.observe(INSTALL)
        for helper in helpers:
            assert helper.notifier is not None
            helper.notifier.drain()
    finally:
        for helper in helpers:
            helper.close()
    bodies = [json.loads(d.body) for d in receiver.deliveries]
    expiring = [b for b in bodies if b["kind"] == "refresh_token_expiring"]
    assert len(expiring) == 1
    assert expiring[0]["lapses_at"] == pytest.approx(clock.now - 167 * 86400 + 180 * 86400)
    assert len([b for b in bodies if b["kind"] == "refresh_overdue"]) == 1
    subjects = [m["Subject"] for _, _, m in inbox.messages]
    assert sum("expiring" in s for s in subjects) == 1
    secret_sweep.scan("deliveries", *[d.body for d in receiver.deliveries])
    secret_sweep.scan("mails", *[m.as_string() for _, _, m in inbox.messages])
