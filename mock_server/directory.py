"""Accounts, lists and subscribers behind the API, and the owner of the rest of its data; no
HTTP types.

The records live here, changed under one lock; the rules (validation, paging, find filters)
are in ``mock_server.api.model``. The directory holds the other resources' stores too:
``catalog`` (custom fields, segments, web forms, landing pages, integrations) and ``mailings``
(broadcasts, followups), and resets them with its own. A subscriber joins a list only through
:meth:`Directory.insert_subscriber` and changes status only through :meth:`Directory.set_status`,
so anything that must follow those events (webhooks) has one place to hook in. Demo data is
``mock_server.demo`` (and ``mock_server.demo_config`` for a config file's); ids and uuids are
deterministic, so they are the same after every reset.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any

from mock_server import demo, demo_config, purchases
from mock_server.api.model import (
    TEXT_LIMITS,
    Account,
    Activity,
    AlreadyOnList,
    BadRequest,
    MailingList,
    NotAllowed,
    NotFound,
    Subscriber,
    as_day,
    creatable_fields,
    parse_custom_fields,
    parse_email,
    parse_flag,
    parse_followup,
    parse_sort_order,
    parse_tags,
    parse_text,
    predicates,
    tag_changes,
)
from mock_server.catalog import Catalog
from mock_server.clock import Clock
from mock_server.mailings import Broadcast, Mailings
from mock_server.webhooks import JOINED, LEFT, Webhooks

_UUID_NAMESPACE = uuid.UUID("6f1d4c1e-3b1a-4d0e-9a57-0b8e7a5d2c11")


class Directory:
    """The API's data. ``create_account`` is called by MockState when a user is created."""

    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        demo_spec: Mapping[str, Any] | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.clock = clock
        self.webhooks = webhooks or Webhooks(clock)
        self.demo_spec = demo_spec
        self._lock = threading.RLock()
        self.catalog = Catalog()
        self.mailings = Mailings(self.recipients, seed)
        self._accounts: dict[int, Account] = {}
        self._next_account = 1
        self._next_list = 1001
        self._next_subscriber = 100001

    def __setstate__(self, saved: dict[str, object]) -> None:
        vars(self).update(saved)
        self.mailings._recipients = self.recipients  # dropped by Mailings.__getstate__

    # -- creation and reset -------------------------------------------------------------------

    def create_account(self, username: str, *, demo_data: bool = False) -> int:
        """Create the account a user owns; with ``demo_data`` seed the demo lists. Returns its id."""
        with self._lock:
            account_id = self._next_account
            self._next_account += 1
            company = f"{username[:1].upper()}{username[1:]} Company"
            account = Account(account_id, self._uuid("account", account_id), username, company)
            self._accounts[account_id] = account
            if demo_data and not demo_config.replaces(self.demo_spec):
                demo.seed(self, account)
            if demo_data and self.demo_spec:
                demo_config.apply(self, account, self.demo_spec)
            return account_id

    def reset(self) -> None:
        """Forget everything (MockState.reset re-creates the configured users' accounts)."""
        with self._lock:
            self._accounts.clear()
            self.catalog.reset()
            self.mailings.reset()
            self._next_account = 1
            self._next_list = 1001
            self._next_subscriber = 100001

    def create_list(self, account_id: int, name: str) -> MailingList:
        """Add an empty list to an account."""
        with self._lock:
            account = self.account(account_id)
            list_id = self._next_list
            self._next_list += 1
            mailing_list = MailingList(list_id, self._uuid("list", list_id), account_id, name[:32])
            account.lists[list_id] = mailing_list
            return mailing_list

    def _uuid(self, kind: str, number: int) -> str:
        # Deterministic, so ids and uuids are the same after every reset.
        return str(uuid.uuid5(_UUID_NAMESPACE, f"{kind}:{number}"))

    def insert_subscriber(
        self,
        mailing_list: MailingList,
        *,
        email: str,
        name: str | None,
        status: str,
        at: float,
        method: str,
        tags: list[str],
    ) -> Subscriber:
        """The one place a subscriber joins a list (API add, move, purchase, demo data)."""
        subscriber_id = self._next_subscriber
        self._next_subscriber += 1
        verified = status == "subscribed"
        subscriber = Subscriber(
            id=subscriber_id,
            uuid=self._uuid("subscriber", subscriber_id),
            list_id=mailing_list.id,
            email=email,
            name=name,
            status=status,
            subscribed_at=at,
            subscription_method=method,
            tags=list(tags),
            is_verified=verified,
            verified_at=at if verified else None,
            activity=[Activity("subscribed", at)],
        )
        mailing_list.subscribers[subscriber_id] = subscriber
        return subscriber

    def set_status(self, subscriber: Subscriber, status: str, at: float, method: str | None = None) -> None:
        """The one place a subscriber's status changes (``method`` says how it unsubscribed)."""
        if status == subscriber.status:
            return
        subscriber.status = status
        if status == "unsubscribed":
            subscriber.unsubscribed_at = at
            subscriber.unsubscribe_method = method
        else:
            subscriber.unsubscribed_at = None
            subscriber.unsubscribe_method = None
        subscriber.activity.append(Activity(status, at))
        self._emit(LEFT if status == "unsubscribed" else "subscriber.subscribed", subscriber)

    def _emit(self, event: str, subscriber: Subscriber) -> None:
        mailing_list = self._list_by_id(subscriber.list_id)
        account = self._accounts.get(mailing_list.account_id)
        if account is not None:  # None while an account's demo data is being seeded
            self.webhooks.emit(event, account, mailing_list, subscriber)

    # -- reading ------------------------------------------------------------------------------

    def account(self, account_id: int) -> Account:
        """One account, or NotFound."""
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"Object: None, name: '{account_id}'")
        return account

    def account_ids(self) -> list[int]:
        """Every account id, oldest first."""
        return list(self._accounts)

    def lists(self, account_id: int) -> list[MailingList]:
        """An account's lists, oldest first."""
        return list(self.account(account_id).lists.values())

    def mailing_list(self, account_id: int, list_id: int) -> MailingList:
        """One list of an account, or NotFound."""
        found = self.account(account_id).lists.get(list_id)
        if found is None:
            raise NotFound("List with given id not found")
        return found

    def find_lists(self, account_id: int, name: str | None) -> list[MailingList]:
        """Lists whose name or unique list id equals ``name`` (every list without a name)."""
        lists = self.lists(account_id)
        if name is None:
            return lists
        return [item for item in lists if name in (item.name, item.unique_list_id)]

    def subscribers(self, account_id: int, list_id: int, sort_order: str | None = None) -> list[Subscriber]:
        """A list's subscribers in the order they were added; ``sort_order=desc`` reverses it."""
        order = parse_sort_order(sort_order)
        with self._lock:
            items = list(self.mailing_list(account_id, list_id).subscribers.values())
        return items[::-1] if order == "desc" else items

    def subscriber(self, account_id: int, list_id: int, subscriber_id: int) -> Subscriber:
        """One subscriber of a list, or NotFound."""
        found = self.mailing_list(account_id, list_id).subscribers.get(subscriber_id)
        if found is None:
            raise NotFound(f"Object: None, name: '{subscriber_id}'")
        return found

    def subscriber_by_email(self, account_id: int, list_id: int, email: str | None) -> Subscriber:
        """The subscriber with this e-mail on a list (case-insensitive), or NotFound."""
        mailing_list = self.mailing_list(account_id, list_id)
        if not email:
            raise BadRequest("subscriber_email: Missing required argument.")
        for subscriber in mailing_list.subscribers.values():
            if subscriber.email.lower() == email.lower():
                return subscriber
        raise NotFound("Object: None, name: 'subscribers'")

    def find_subscribers(
        self, account_id: int, list_id: int | None, filters: Mapping[str, str]
    ) -> list[Subscriber]:
        """Subscribers matching every given filter, on one list or (list_id None) the account.

        Text filters match exactly (case-sensitive, as AWeber documents for ``email``);
        ``tags`` must all be present and ``tags_not_in`` all absent; ``subscribed_after`` /
        ``subscribed_before`` (and the ``unsubscribed_*`` pair) compare whole UTC days.
        """
        with self._lock:
            lists = (
                [self.mailing_list(account_id, list_id)] if list_id is not None else self.lists(account_id)
            )
            items = [sub for mailing_list in lists for sub in mailing_list.subscribers.values()]
        order = parse_sort_order(filters.get("sort_order"))
        sort_key = filters.get("sort_key") or "subscribed_at"
        if sort_key not in ("subscribed_at", "unsubscribed_at"):
            raise BadRequest('sort_key: Expected "subscribed_at" or "unsubscribed_at".')
        checks = list(predicates(filters))
        matches = [sub for sub in items if all(check(sub) for check in checks)]
        if list_id is None or sort_key != "subscribed_at":
            matches.sort(key=lambda sub: (getattr(sub, sort_key) or 0.0, sub.id))
        return matches[::-1] if order == "desc" else matches

    def activity(self, account_id: int, list_id: int, subscriber_id: int) -> list[Activity]:
        """A subscriber's history, oldest first."""
        return list(self.subscriber(account_id, list_id, subscriber_id).activity)

    def list_counts(self, mailing_list: MailingList) -> dict[str, int]:
        """The ``total_*`` counters of a list representation."""
        today = as_day(self.clock.now())
        subs = list(mailing_list.subscribers.values())
        subscribed = [sub for sub in subs if sub.status == "subscribed"]
        return {
            "total_subscribers": len(subs),
            "total_subscribed_subscribers": len(subscribed),
            "total_unsubscribed_subscribers": sum(sub.status == "unsubscribed" for sub in subs),
            "total_unconfirmed_subscribers": sum(sub.status == "unconfirmed" for sub in subs),
            "total_subscribers_subscribed_today": sum(
                as_day(sub.subscribed_at) == today for sub in subscribed
            ),
            "total_subscribers_subscribed_yesterday": sum(
                (today - as_day(sub.subscribed_at)).days == 1 for sub in subscribed
            ),
        }

    # -- writing ------------------------------------------------------------------------------

    def add_subscriber(
        self, account_id: int, list_id: int, fields: Mapping[str, object]
    ) -> tuple[Subscriber, bool]:
        """Add a subscriber; returns it and whether it is new.

        A duplicate e-mail is a 400 unless ``update_existing`` is true, in which case the
        updatable fields are changed and tags appended (AWeber's documented behaviour).
        """
        with self._lock:
            mailing_list = self.mailing_list(account_id, list_id)
            email = parse_email(fields.get("email"))
            update_existing = parse_flag("update_existing", fields.get("update_existing", False))
            existing = next(
                (sub for sub in mailing_list.subscribers.values() if sub.email.lower() == email.lower()),
                None,
            )
            if existing is not None and not update_existing:
                raise BadRequest("email: Subscriber already subscribed.")
            values = creatable_fields(fields)
            self._check_strict(list_id, fields, values.get("custom_fields"))
            tags = parse_tags("tags", fields["tags"]) if "tags" in fields else []
            if existing is not None:
                values.pop("ip_address", None)
                self._apply(existing, values)
                existing.tags.extend(tag for tag in tags if tag not in existing.tags)
                return existing, False
            subscriber = self.insert_subscriber(
                mailing_list,
                email=email,
                name=None,
                status="subscribed",
                at=self.clock.now(),
                method="api",
                tags=tags,
            )
            self._apply(subscriber, values)
            self.webhooks.emit(JOINED, self.account(account_id), mailing_list, subscriber)
            return subscriber, True

    def update_subscriber(
        self, account_id: int, list_id: int, subscriber_id: int, fields: Mapping[str, object]
    ) -> Subscriber:
        """PATCH: change the given fields; ``tags`` is ``{"add": [...], "remove": [...]}``."""
        with self._lock:
            subscriber = self.subscriber(account_id, list_id, subscriber_id)
            changes: dict[str, object] = {}
            for key in ("name", "ad_tracking", "misc_notes"):
                if key in fields:
                    changes[key] = parse_text(key, fields[key], limit=TEXT_LIMITS[key])
            if "custom_fields" in fields:
                changes["custom_fields"] = parse_custom_fields(fields["custom_fields"])
                self._check_strict(list_id, fields, changes["custom_fields"])
            if "last_followup_message_number_sent" in fields:
                changes["last_followup_message_number_sent"] = parse_followup(
                    fields["last_followup_message_number_sent"]
                )
            if "email" in fields:
                email = parse_email(fields["email"])
                clash = any(
                    sub.email.lower() == email.lower() and sub.id != subscriber.id
                    for sub in self.mailing_list(account_id, list_id).subscribers.values()
                )
                if clash:
                    raise BadRequest("email: Subscriber already subscribed.")
                changes["email"] = email
            status = fields.get("status")
            if status is not None and status not in ("subscribed", "unsubscribed"):
                raise BadRequest('status: Invalid value; use "subscribed" or "unsubscribed".')
            add, remove = tag_changes(fields["tags"]) if "tags" in fields else ([], [])
            self._apply(subscriber, changes)
            subscriber.tags = [tag for tag in subscriber.tags if tag not in remove]
            subscriber.tags.extend(tag for tag in add if tag not in subscriber.tags)
            now = self.clock.now()
            if status == "unsubscribed" or (status == "subscribed" and subscriber.status == "unsubscribed"):
                self.set_status(subscriber, status, now, "api: unsubscribe")
            return subscriber

    def delete_subscriber(self, account_id: int, list_id: int, subscriber_id: int) -> None:
        """Delete a subscribed subscriber; others are NotAllowed, as on AWeber."""
        with self._lock:
            subscriber = self.subscriber(account_id, list_id, subscriber_id)
            if subscriber.status != "subscribed":
                raise NotAllowed(
                    f"Only subscribed subscribers can be deleted; this one is {subscriber.status}."
                )
            del self.mailing_list(account_id, list_id).subscribers[subscriber_id]

    def move_subscriber(
        self, account_id: int, list_id: int, subscriber_id: int, target_list_id: int, followup: object = None
    ) -> Subscriber:
        """``ws.op=move``: the subscriber leaves its list and joins another of the same account.

        Only subscribed subscribers move (405 otherwise); a target list that already has the
        address refuses with AWeber's "Subscriber already belongs to this list." It gets a new id
        on the target list and keeps its fields, tags and history.
        """
        with self._lock:
            subscriber = self.subscriber(account_id, list_id, subscriber_id)
            target = self.mailing_list(account_id, target_list_id)
            if subscriber.status != "subscribed":
                raise NotAllowed(
                    f"Only subscribed subscribers can be moved; this one is {subscriber.status}."
                )
            if any(sub.email.lower() == subscriber.email.lower() for sub in target.subscribers.values()):
                raise AlreadyOnList("Subscriber already belongs to this list.")
            followup_number = None if followup in (None, "") else parse_followup(followup)
            moved = self.insert_subscriber(
                target,
                email=subscriber.email,
                name=subscriber.name,
                status="subscribed",
                at=subscriber.subscribed_at,
                method=subscriber.subscription_method,
                tags=subscriber.tags,
            )
            for key in (
                "ad_tracking",
                "misc_notes",
                "custom_fields",
                "ip_address",
                "is_verified",
                "verified_at",
            ):
                setattr(moved, key, getattr(subscriber, key))
            moved.last_followup_message_number_sent = (
                subscriber.last_followup_message_number_sent if followup_number is None else followup_number
            )
            moved.activity = [*subscriber.activity, Activity("moved", self.clock.now())]
            del self.mailing_list(account_id, list_id).subscribers[subscriber_id]
            source, now = self.mailing_list(account_id, list_id), self.clock.now()
            self.webhooks.emit(LEFT, self.account(account_id), source, subscriber, moved_at=now)
            self.webhooks.emit(JOINED, self.account(account_id), target, moved)
            return moved

    def purchase(self, account_id: int, list_id: int, fields: Mapping[str, object]) -> Subscriber:
        """Record a purchase: add or update the subscriber, then log a ``tracked_event``."""
        with self._lock:
            at, subscriber_fields = purchases.parse(fields)
            subscriber, _ = self.add_subscriber(
                account_id, list_id, {**subscriber_fields, "update_existing": True}
            )
            subscriber.activity.append(Activity("tracked_event", at))
            return subscriber

    def rename_custom_field(self, mailing_list: MailingList, old: str, new: str | None) -> None:
        """Carry a custom field's values to its new name, or drop them (``new`` None)."""
        with self._lock:
            for sub in mailing_list.subscribers.values():
                if old in sub.custom_fields and old != new:
                    value = sub.custom_fields.pop(old)
                    if new is not None:
                        sub.custom_fields[new] = value

    def recipients(self, broadcast: Broadcast) -> list[Subscriber]:
        """Who a broadcast goes to: subscribed on an included list, on no excluded list."""
        with self._lock:
            excluded = {
                sub.email.lower()
                for list_id in broadcast.exclude_lists
                for sub in self._list_by_id(list_id).subscribers.values()
            }
            seen: set[str] = set()
            result: list[Subscriber] = []
            for list_id in broadcast.include_lists or [broadcast.list_id]:
                for sub in self._list_by_id(list_id).subscribers.values():
                    address = sub.email.lower()
                    if sub.status == "subscribed" and address not in excluded and address not in seen:
                        seen.add(address)
                        result.append(sub)
            return result

    def _list_by_id(self, list_id: int) -> MailingList:
        for account in self._accounts.values():
            if list_id in account.lists:
                return account.lists[list_id]
        return MailingList(list_id, "", 0, "")  # a list deleted since: nobody on it

    def _check_strict(self, list_id: int, fields: Mapping[str, object], values: object) -> None:
        """With ``strict_custom_fields`` true, every custom field named must exist on the list."""
        if not isinstance(values, dict) or not parse_flag(
            "strict_custom_fields", fields.get("strict_custom_fields", False)
        ):
            return
        defined = {item.name for item in self.catalog.custom_fields(list_id)}
        unknown = sorted(set(values) - defined)
        if unknown:
            raise BadRequest(
                f"custom_fields: {unknown[0][:100]!r} is not a custom field of this list; "
                "create it first, or leave strict_custom_fields false."
            )

    @staticmethod
    def _apply(subscriber: Subscriber, changes: Mapping[str, object]) -> None:
        for key, value in changes.items():
            setattr(subscriber, key, value)
