"""The dashboard's Webhooks section: set up an app, connect a URL, add and unsubscribe subscribers.

Each form handler takes the MockState and the posted form and returns a notice name; the
dashboard (``control_dashboard.Dashboard.action``) checks the session and the CSRF token first
and shows a ``WebhookError`` as a problem page. Subscribers added or unsubscribed here go
through the directory, so they emit the same webhooks as the API.

``connect`` is shared with the JSON control API: AWeber enables a customer's Webhook URL field
only once the customer has authorized the app with ``subscriber.read`` and ``account.read``, so
the mock asks for such a grant (live or not) first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData

from mock_server.api.model import DirectoryError
from mock_server.webhook_records import EVENTS, Callback, WebhookError

WEBHOOK_SCOPES = frozenset({"subscriber.read", "account.read"})
NOTICES = {
    "webhook-app": "The app's webhook set-up was saved.",
    "webhook-connected": "The Webhook URL was connected.",
    "webhook-removed": "The Webhook URL was removed.",
    "webhook-subscriber-added": "The subscriber was added.",
    "webhook-unsubscribed": "The subscriber was unsubscribed.",
    "webhook-fault": "The delivery fault was armed.",
    "webhook-faults-cleared": "Every delivery fault was disarmed.",
    "webhook-paused": "Deliveries are paused; events wait and go out together on resume.",
    "webhook-resumed": "Deliveries run again.",
}


def account_of(state: Any, username: object, account_id: object = None) -> int:
    """The account id named by ``account_id`` or by its owner's ``username``; WebhookError else."""
    if account_id is not None:
        if isinstance(account_id, bool) or not isinstance(account_id, int):
            raise WebhookError("'account_id' must be an integer account id")
        if account_id not in state.directory.account_ids():
            raise WebhookError(f"there is no account {account_id}")
        return account_id
    if not isinstance(username, str) or not username:
        raise WebhookError("name the customer account: 'account_id' or the owner's 'username'")
    with state.lock:
        user = state.users.get(username)
    if user is None:
        raise WebhookError(f"there is no user {username!r}")
    found: int = user.account_id
    return found


def connect(state: Any, client_id: str, account_id: int, url: object, base_url: str) -> Callback:
    """Connect an account's Webhook URL for an app, as the customer does at aweber.com/users/apps."""
    state.webhooks.app(client_id)  # an app without a webhook set-up has no Webhook URL field
    with state.lock:
        granted = any(
            family.client_id == client_id
            and family.account_id == account_id
            and family.scopes >= WEBHOOK_SCOPES
            for family in state.tokens.families.values()
        )
    if not granted:
        raise WebhookError(
            f"account {account_id} has not authorized app {client_id!r} with subscriber.read and "
            "account.read yet: complete the OAuth flow (or POST /_mock/approve) with those scopes first"
        )
    callback: Callback = state.webhooks.subscribe(client_id, account_id, url, base_url)
    return callback


def view(state: Any, base_url: str) -> dict[str, Any]:
    """What the template shows."""
    webhooks = state.webhooks
    return {
        "base_url": base_url,
        "events": EVENTS,
        "apps": webhooks.apps(),
        "callbacks": webhooks.callbacks(),
        "deliveries": list(reversed(webhooks.deliveries()))[:50],
        "faults": webhooks.faults(),
        "settings": webhooks.settings,
        "running": webhooks.has_listeners(),
    }


def _text(form: FormData, name: str, label: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise WebhookError(f"{label} is missing.")
    return value.strip()


def _int(form: FormData, name: str, label: str) -> int:
    text = _text(form, name, label)
    if not text.isdigit() or len(text) > 18:
        raise WebhookError(f"{label} must be a whole number, not {text[:40]!r}.")
    return int(text)


def _base_url(form: FormData) -> str:
    base = _text(form, "base_url", "The mock's base URL")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookError("The mock's base URL must be an http(s) URL.")
    return base


def set_up_app(state: Any, form: FormData) -> str:
    """Save an app's allow-list (one prefix a line) and events."""
    client_id = _text(form, "client_id", "The application")
    if client_id not in state.clients:
        raise WebhookError(f"There is no application {client_id!r}.")
    prefixes = [
        line.strip() for line in _text(form, "allow_list", "The allow-list").splitlines() if line.strip()
    ]
    events = [event for event in EVENTS if form.get(f"event:{event}") == "on"] or None
    state.webhooks.configure_app(client_id, prefixes, events)
    return "webhook-app"


def connect_url(state: Any, form: FormData) -> str:
    """Connect a customer's Webhook URL."""
    account_id = account_of(state, _text(form, "username", "The customer"))
    connect(
        state,
        _text(form, "client_id", "The application"),
        account_id,
        _text(form, "url", "The URL"),
        _base_url(form),
    )
    return "webhook-connected"


def remove_url(state: Any, form: FormData) -> str:
    """Remove a Webhook URL."""
    if not state.webhooks.unsubscribe(_text(form, "callback", "The callback")):
        raise WebhookError("That Webhook URL was already removed.")
    return "webhook-removed"


def add_subscriber(state: Any, form: FormData) -> str:
    """Add a subscriber to a list, as a sign-up form would (it emits added and subscribed)."""
    account_id = account_of(state, _text(form, "username", "The customer"))
    list_id = _int(form, "list_id", "The list id")
    fields: dict[str, object] = {"email": _text(form, "email", "The e-mail address")}
    name = form.get("name")
    if isinstance(name, str) and name.strip():
        fields["name"] = name.strip()
    try:
        state.directory.add_subscriber(account_id, list_id, fields)
    except DirectoryError as exc:
        raise WebhookError(exc.message) from None
    return "webhook-subscriber-added"


def unsubscribe(state: Any, form: FormData) -> str:
    """Unsubscribe a subscriber found by e-mail on a list (it emits unsubscribed)."""
    account_id = account_of(state, _text(form, "username", "The customer"))
    list_id = _int(form, "list_id", "The list id")
    try:
        subscriber = state.directory.subscriber_by_email(
            account_id, list_id, _text(form, "email", "The e-mail address")
        )
        state.directory.update_subscriber(account_id, list_id, subscriber.id, {"status": "unsubscribed"})
    except DirectoryError as exc:
        raise WebhookError(exc.message) from None
    return "webhook-unsubscribed"


def arm_fault(state: Any, form: FormData) -> str:
    """Arm a delivery fault."""
    spec: dict[str, object] = {
        "kind": _text(form, "kind", "The fault"),
        "count": _int(form, "count", "The count"),
    }
    if spec["kind"] == "delay":
        text = _text(form, "delay_seconds", "The delay")
        try:
            spec["delay_seconds"] = float(text)
        except ValueError:
            raise WebhookError(f"The delay must be a number of seconds, not {text[:40]!r}.") from None
    state.webhooks.add_fault(spec)
    return "webhook-fault"


def clear_faults(state: Any, form: FormData) -> str:
    """Disarm every delivery fault."""
    state.webhooks.clear_faults()
    return "webhook-faults-cleared"


def pause(state: Any, form: FormData) -> str:
    """Pause or resume deliveries."""
    paused = form.get("paused") == "true"
    state.webhooks.update_settings({"paused": paused})
    return "webhook-paused" if paused else "webhook-resumed"
