"""The API's subscriber records and rules: dataclasses, input validation, paging, find filters.

Pure (stdlib only, no HTTP types, no clock): ``mock_server.directory`` keeps the records and
calls these rules; ``mock_server.api`` translates the errors below into AWeber's error envelope
(``BadRequest`` 400 ``WebServiceError``, ``NotFound`` 404 ``NotFoundError``, ``NotAllowed``
405 ``MethodNotAllowedError``). Messages follow AWeber's ``field: problem`` style.

Paging is AWeber's (providers.md A11.3): ``ws.start`` >= 0 (default 0), ``ws.size`` 1..100
(default 100), and a 400 for every invalid value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar

T = TypeVar("T")

MAX_PAGE_SIZE = 100
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
SUBSCRIBER_STATUSES = ("subscribed", "unsubscribed", "unconfirmed")
TEXT_LIMITS = {"name": 60, "ad_tracking": 20, "misc_notes": 60}
_FIND_TEXT_FILTERS = (
    "email",
    "name",
    "status",
    "ad_tracking",
    "misc_notes",
    "subscription_method",
    "unsubscribe_method",
    "area_code",
    "city",
    "country",
    "postal_code",
    "region",
    "dma_code",
    "latitude",
    "longitude",
)
# Day filters: (filter, attribute, comparison); AWeber's _before/_after are inclusive.
_FIND_DAY_FILTERS = (
    *(
        (f"{prefix}_{edge}", f"{prefix}_at", edge)
        for prefix in ("subscribed", "unsubscribed")
        for edge in ("after", "before", "at")
    ),
    ("verified_at", "verified_at", "at"),
    ("last_followup_message_sent_at", "last_followup_sent_at", "at"),
)
FIND_FILTERS = (
    *_FIND_TEXT_FILTERS,
    *(name for name, _, _ in _FIND_DAY_FILTERS),
    "custom_fields",
    "tags",
    "tags_not_in",
    "last_followup_message_number_sent",
)


class DirectoryError(Exception):
    """A request the directory refuses; ``message`` is AWeber-style text for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(DirectoryError):
    """Invalid input (AWeber: 400 WebServiceError)."""


class NotFound(DirectoryError):
    """No such account, list or subscriber (AWeber: 404 NotFoundError)."""


class NotAllowed(DirectoryError):
    """The operation is not allowed in the resource's state (AWeber: 405)."""


class AlreadyOnList(NotAllowed):
    """A move to a list that already has the address (AWeber: 405 WebServiceError)."""


@dataclass
class Activity:
    """One entry of a subscriber's history (``ws.op=getActivity``)."""

    type: str
    event_time: float


@dataclass
class Subscriber:
    """A subscriber on one list (AWeber's "lead")."""

    id: int
    uuid: str
    list_id: int
    email: str
    status: str
    subscribed_at: float
    name: str | None = None
    subscription_method: str = "api"
    ad_tracking: str | None = None
    misc_notes: str | None = None
    custom_fields: dict[str, str | None] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    ip_address: str | None = None
    is_verified: bool = False
    verified_at: float | None = None
    unsubscribed_at: float | None = None
    unsubscribe_method: str | None = None
    last_followup_message_number_sent: int = 0
    activity: list[Activity] = field(default_factory=list)


@dataclass
class MailingList:
    """A list and its subscribers, kept in the order they were added (oldest first)."""

    id: int
    uuid: str
    account_id: int
    name: str
    subscribers: dict[int, Subscriber] = field(default_factory=dict)

    @property
    def unique_list_id(self) -> str:
        """AWeber's public list name, e.g. ``awlist1001``."""
        return f"awlist{self.id}"


@dataclass
class Account:
    """A customer account, owned by one user."""

    id: int
    uuid: str
    username: str
    company: str
    lists: dict[int, MailingList] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One page of a collection: the entries' slice and where the neighbour pages start."""

    start: int
    size: int
    total: int

    @property
    def stop(self) -> int:
        """One past the last index on this page."""
        return min(self.start + self.size, max(self.total, self.start))

    @property
    def next_start(self) -> int | None:
        """``ws.start`` of the next page; None on the last page."""
        return self.start + self.size if self.start + self.size < self.total else None

    @property
    def prev_start(self) -> int | None:
        """``ws.start`` of the previous page; None on the first page."""
        return max(0, self.start - self.size) if self.start > 0 else None

    def take(self, items: Sequence[T]) -> list[T]:
        """This page's entries out of the whole collection."""
        return list(items[self.start : self.stop])


def _int_param(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise BadRequest(f'Invalid value for "{name}" parameter: {raw[:40]!r} is not an integer.')
    return int(text)


def parse_paging(start: str | None, size: str | None, total: int) -> Page:
    """Validate ``ws.start``/``ws.size`` as AWeber does (400 for every invalid value)."""
    start_value = _int_param("ws.start", start, 0)
    size_value = _int_param("ws.size", size, MAX_PAGE_SIZE)
    if start_value < 0:
        raise BadRequest('Minimum for "ws.start" parameter is 0.')
    if size_value < 1:
        raise BadRequest('Minimum for "ws.size" parameter is 1.')
    if size_value > MAX_PAGE_SIZE:
        raise BadRequest(f'Maximum for "ws.size" parameter is {MAX_PAGE_SIZE}.')
    return Page(start_value, size_value, total)


def parse_text(name: str, value: object, *, limit: int | None = None, required: bool = False) -> str | None:
    """A text field: a string of at most ``limit`` characters; empty means absent."""
    if value is None or value == "":
        if required:
            raise BadRequest(f"{name}: Missing required argument.")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name}: Expected a string.")
    if limit is not None and len(value) > limit:
        raise BadRequest(f"{name}: Value is longer than {limit} characters.")
    return value


def parse_email(value: object) -> str:
    """A subscriber e-mail: required, at most 50 characters, shaped like an address."""
    text = parse_text("email", value, limit=50, required=True)
    if text is None or not _EMAIL.fullmatch(text):
        raise BadRequest("email: Invalid email address.")
    return text


def _json_value(name: str, value: object) -> object:
    """Form bodies carry arrays and objects as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            raise BadRequest(f"{name}: Invalid JSON.") from None
    return value


def parse_tags(name: str, value: object) -> list[str]:
    """A list of tags (a JSON array in form bodies), lower-cased as AWeber stores them."""
    value = _json_value(name, value)
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise BadRequest(f"{name}: Expected a list of strings.")
    if any(len(tag) > 100 or not tag.strip() for tag in value):
        raise BadRequest(f"{name}: Each tag must be 1 to 100 characters.")
    return [tag.strip().lower() for tag in value]


def parse_custom_fields(value: object) -> dict[str, str | None]:
    """Custom fields: an object of names to strings or null (JSON text in form bodies)."""
    value = _json_value("custom_fields", value)
    if not isinstance(value, dict):
        raise BadRequest("custom_fields: Expected an object.")
    result: dict[str, str | None] = {}
    for key, item in value.items():
        if len(key) > 100 or (item is not None and (not isinstance(item, str) or len(item) > 100)):
            raise BadRequest("custom_fields: Names and values are strings of at most 100 characters.")
        result[key] = item
    return result


def parse_ip_address(value: object) -> str | None:
    """``ip_address`` (create only): a valid, public address."""
    text = parse_text("ip_address", value, limit=45)
    if text is None:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise BadRequest("ip_address: Invalid IP address.") from None
    if not address.is_global:
        raise BadRequest("Invalid Subscriber IP address. The address is part of a reserved block.")
    return text


def parse_followup(value: object) -> int:
    """``last_followup_message_number_sent``: an integer from 0 to 1001."""
    if isinstance(value, str):
        value = _int_param("last_followup_message_number_sent", value, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1001:
        raise BadRequest("last_followup_message_number_sent: Expected an integer from 0 to 1001.")
    return value


def parse_flag(name: str, value: object) -> bool:
    """A boolean, or the strings "true"/"false" that AWeber documents."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", ""):
        return value.lower() in ("true", "1")
    raise BadRequest(f'{name}: Expected "true" or "false".')


def _day(name: str, raw: str) -> date:
    """A find filter's day: ``YYYY-MM-DD`` or ``MM-DD-YYYY``, both documented by AWeber."""
    text = raw.strip()
    if re.fullmatch(r"\d{2}-\d{2}-\d{4}", text):
        text = f"{text[6:]}-{text[:2]}-{text[3:5]}"
    problem = BadRequest(f"{name}: Expected a date such as 2024-01-31 or 01-31-2024.")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise problem
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise problem from None


def parse_datetime(name: str, value: object) -> float:
    """An ISO 8601 time (``2022-11-11T00:00:00Z``, ``2017-07-18 16:53:02-04:00``); no zone means UTC."""
    problem = BadRequest(f"{name}: Expected an ISO 8601 date and time such as 2024-01-31T12:00:00Z.")
    if not isinstance(value, str) or not value.strip():
        raise problem
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise problem from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.replace(microsecond=0).timestamp()


def as_day(timestamp: float) -> date:
    """The UTC calendar day of a unix time."""
    return datetime.fromtimestamp(timestamp, UTC).date()


def creatable_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """The validated fields of an add-subscriber request other than ``email`` and ``tags``."""
    values: dict[str, object] = {}
    for key, limit in TEXT_LIMITS.items():
        if key in fields:
            values[key] = parse_text(key, fields[key], limit=limit)
    if "custom_fields" in fields:
        values["custom_fields"] = parse_custom_fields(fields["custom_fields"])
    if "ip_address" in fields:
        values["ip_address"] = parse_ip_address(fields["ip_address"])
    if "last_followup_message_number_sent" in fields:
        values["last_followup_message_number_sent"] = parse_followup(
            fields["last_followup_message_number_sent"]
        )
    return values


def tag_changes(value: object) -> tuple[list[str], list[str]]:
    """PATCH ``tags``: ``{"add": [...], "remove": [...]}`` as (add, remove)."""
    value = _json_value("tags", value)
    if not isinstance(value, dict) or not set(value) <= {"add", "remove"}:
        raise BadRequest('tags: Expected {"add": [...], "remove": [...]}.')
    return parse_tags("tags.add", value.get("add", [])), parse_tags("tags.remove", value.get("remove", []))


def parse_sort_order(raw: str | None) -> str:
    """``sort_order``: ``asc`` (default) or ``desc``."""
    if raw in (None, "", "asc", "desc"):
        return raw or "asc"
    raise BadRequest('sort_order: Expected "asc" or "desc".')


def predicates(filters: Mapping[str, str]) -> Iterable[Callable[[Subscriber], bool]]:
    """One check per ``find`` filter given; a subscriber matches when all pass."""
    for name in _FIND_TEXT_FILTERS:
        if name in filters:
            if name == "status" and filters[name] not in SUBSCRIBER_STATUSES:
                raise BadRequest("status: Expected subscribed, unsubscribed or unconfirmed.")
            yield _equals(name, filters[name])
    if "tags" in filters:
        required = set(parse_tags("tags", filters["tags"]))
        yield lambda sub: required <= set(sub.tags)
    if "tags_not_in" in filters:
        excluded = set(parse_tags("tags_not_in", filters["tags_not_in"]))
        yield lambda sub: not excluded & set(sub.tags)
    if "custom_fields" in filters:
        wanted = parse_custom_fields(filters["custom_fields"])
        yield lambda sub: all(sub.custom_fields.get(key) == value for key, value in wanted.items())
    if "last_followup_message_number_sent" in filters:
        number = parse_followup(filters["last_followup_message_number_sent"])
        yield lambda sub: sub.last_followup_message_number_sent == number
    for key, attribute, edge in _FIND_DAY_FILTERS:
        if key in filters:
            yield _date_check(attribute, edge, _day(key, filters[key]))


def _equals(attribute: str, wanted: str) -> Callable[[Subscriber], bool]:
    return lambda sub: getattr(sub, attribute, None) == wanted


def _date_check(attribute: str, edge: str, day: date) -> Callable[[Subscriber], bool]:
    def check(sub: Subscriber) -> bool:
        value = getattr(sub, attribute, None)
        if value is None:
            return False
        found = as_day(value)
        if edge == "at":
            return found == day
        return found >= day if edge == "after" else found <= day

    return check
