"""A list's and an account's furniture: custom fields, segments, web forms, split tests,
landing pages and integrations. Pure (no HTTP types); ``mock_server.directory`` owns one.

Records are kept by id in the order they were made, which is AWeber's documented sort order
for all of these collections. List ids are unique across accounts, so records are filed by
list id; the handlers check first that the list belongs to the caller's account.
"""

from __future__ import annotations

import html
import threading
import uuid
from dataclasses import dataclass, field
from typing import TypeVar

from mock_server.api.model import BadRequest, NotAllowed, NotFound, parse_flag, parse_text

MAX_CUSTOM_FIELDS = 25
WEB_FORM_TYPES = ("exitpopup", "inline", "lightbox", "popover", "popunder", "popup", "styled")
R = TypeVar("R")
_NAMESPACE = uuid.UUID("0b7f2c55-6a0e-4a7b-93a4-5f1c2e9d8a10")


@dataclass
class CustomField:
    """A custom field defined on a list."""

    id: int
    list_id: int
    name: str
    is_subscriber_updateable: bool = False


@dataclass
class Segment:
    """A saved search of a list; a split-test segment cannot receive a broadcast."""

    id: int
    list_id: int
    name: str
    is_split_test: bool = False


@dataclass
class WebForm:
    """A sign-up form and its display counters."""

    id: int
    list_id: int
    name: str
    type: str
    is_active: bool = True
    tags: list[str] = field(default_factory=list)
    total_displays: int = 0
    total_unique_displays: int = 0
    total_submissions: int = 0


@dataclass
class SplitTest:
    """A web form split test: web form ids with their weights (percent)."""

    id: int
    list_id: int
    name: str
    is_active: bool = True
    components: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class LandingPage:
    """A landing page; its id is a UUID string."""

    id: str
    list_id: int
    name: str
    created_at: float
    modified_at: float
    published_at: float | None = None
    content_html: str = ""

    @property
    def status(self) -> str:
        """``published`` or ``unpublished``."""
        return "published" if self.published_at is not None else "unpublished"


@dataclass
class Integration:
    """A connected service of an account (Facebook, Twitter, PayPal, Shopify)."""

    id: int
    account_id: int
    service_name: str
    login: str


def landing_page_uuid(number: int) -> str:
    """The deterministic UUID of the landing page made with record id ``number``."""
    return str(uuid.uuid5(_NAMESPACE, f"landing:{number}"))


def _owned(found: R | None, attribute: str, owner: int, message: str) -> R:
    """``found`` if it belongs to ``owner`` (a list or an account id), else NotFound."""
    if found is None or getattr(found, attribute) != owner:
        raise NotFound(message)
    return found


class Catalog:
    """Every record of the kinds above, under one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self._next = 1
            self.custom_fields_by_id: dict[int, CustomField] = {}
            self.segments_by_id: dict[int, Segment] = {}
            self.web_forms_by_id: dict[int, WebForm] = {}
            self.split_tests_by_id: dict[int, SplitTest] = {}
            self.landing_pages_by_id: dict[str, LandingPage] = {}
            self.integrations_by_id: dict[int, Integration] = {}

    def new_id(self) -> int:
        """The next record id (one sequence for every kind, as AWeber's ids look)."""
        with self._lock:
            value = self._next
            self._next += 1
            return value

    # -- custom fields ------------------------------------------------------------------------

    def custom_fields(self, list_id: int) -> list[CustomField]:
        """A list's custom fields by id."""
        return [item for item in self.custom_fields_by_id.values() if item.list_id == list_id]

    def custom_field(self, list_id: int, field_id: int) -> CustomField:
        """One custom field of a list, or NotFound."""
        return _owned(
            self.custom_fields_by_id.get(field_id), "list_id", list_id, f"Object: None, name: '{field_id}'"
        )

    def add_custom_field(self, list_id: int, name: object, updateable: object = False) -> CustomField:
        """Define a field; names are unique per list, and a list holds at most 25 (405)."""
        with self._lock:
            text = self._field_name(list_id, name, None)
            if len(self.custom_fields(list_id)) >= MAX_CUSTOM_FIELDS:
                raise NotAllowed(f"You may only have {MAX_CUSTOM_FIELDS} CustomFields")
            flag = parse_flag("is_subscriber_updateable", updateable)
            item = CustomField(self.new_id(), list_id, text, flag)
            self.custom_fields_by_id[item.id] = item
            return item

    def update_custom_field(self, list_id: int, field_id: int, changes: dict[str, object]) -> CustomField:
        """PATCH: ``name`` and ``is_subscriber_updateable``."""
        with self._lock:
            item = self.custom_field(list_id, field_id)
            name = self._field_name(list_id, changes["name"], field_id) if "name" in changes else item.name
            updateable = item.is_subscriber_updateable
            if "is_subscriber_updateable" in changes:
                updateable = parse_flag("is_subscriber_updateable", changes["is_subscriber_updateable"])
            item.name, item.is_subscriber_updateable = name, updateable
            return item

    def delete_custom_field(self, list_id: int, field_id: int) -> str:
        """Remove a definition; returns its name so subscribers can drop their values."""
        with self._lock:
            return self.custom_fields_by_id.pop(self.custom_field(list_id, field_id).id).name

    def _field_name(self, list_id: int, name: object, own_id: int | None) -> str:
        text = parse_text("name", name, limit=100, required=True)
        assert text is not None
        if any(item.name == text and item.id != own_id for item in self.custom_fields(list_id)):
            raise BadRequest(f"name: A custom field named {text[:100]!r} already exists on this list.")
        return text

    # -- segments, web forms, split tests, landing pages --------------------------------------

    def segments(self, list_id: int) -> list[Segment]:
        """A list's segments by id."""
        return [item for item in self.segments_by_id.values() if item.list_id == list_id]

    def segment(self, list_id: int, segment_id: int) -> Segment:
        """One segment of a list, or NotFound."""
        return _owned(
            self.segments_by_id.get(segment_id), "list_id", list_id, f"Object: None, name: '{segment_id}'"
        )

    def web_forms(self, list_ids: list[int]) -> list[WebForm]:
        """The web forms of these lists, by id."""
        return [item for item in self.web_forms_by_id.values() if item.list_id in list_ids]

    def web_form(self, list_id: int, form_id: int) -> WebForm:
        """One web form of a list, or NotFound."""
        return _owned(
            self.web_forms_by_id.get(form_id), "list_id", list_id, f"Object: None, name: '{form_id}'"
        )

    def split_tests(self, list_ids: list[int]) -> list[SplitTest]:
        """The split tests of these lists, by id."""
        return [item for item in self.split_tests_by_id.values() if item.list_id in list_ids]

    def split_test(self, list_id: int, test_id: int) -> SplitTest:
        """One split test of a list, or NotFound."""
        return _owned(
            self.split_tests_by_id.get(test_id), "list_id", list_id, f"Object: None, name: '{test_id}'"
        )

    def components(self, list_id: int, test_id: int) -> list[tuple[str, WebForm, int]]:
        """A split test's components as (component id ``<test>-<form>``, web form, weight)."""
        test = self.split_test(list_id, test_id)
        return [
            (f"{test.id}-{form_id}", self.web_forms_by_id[form_id], weight)
            for form_id, weight in test.components
            if form_id in self.web_forms_by_id
        ]

    def component(self, list_id: int, test_id: int, component_id: str) -> tuple[str, WebForm, int]:
        """One component by its ``<test>-<form>`` id, or NotFound."""
        for item in self.components(list_id, test_id):
            if item[0] == component_id:
                return item
        raise NotFound(f"Object: None, name: {component_id[:40]!r}")

    def landing_pages(self, list_id: int) -> list[LandingPage]:
        """A list's landing pages, oldest first."""
        return [item for item in self.landing_pages_by_id.values() if item.list_id == list_id]

    def landing_page(self, list_id: int, page_id: str) -> LandingPage:
        """One landing page of a list, or NotFound."""
        return _owned(
            self.landing_pages_by_id.get(page_id), "list_id", list_id, f"Object: None, name: {page_id[:40]!r}"
        )

    def integrations(self, account_id: int) -> list[Integration]:
        """An account's integrations by id."""
        return [item for item in self.integrations_by_id.values() if item.account_id == account_id]

    def integration(self, account_id: int, integration_id: int) -> Integration:
        """One integration of an account, or NotFound."""
        return _owned(
            self.integrations_by_id.get(integration_id),
            "account_id",
            account_id,
            f"Object: None, name: '{integration_id}'",
        )

    # -- making records (demo data and config seeds) ------------------------------------------

    def add_segment(self, list_id: int, name: str, *, is_split_test: bool = False) -> Segment:
        """A new segment."""
        item = Segment(self.new_id(), list_id, name, is_split_test)
        self.segments_by_id[item.id] = item
        return item

    def add_web_form(self, list_id: int, name: str, form_type: str, **counters: object) -> WebForm:
        """A new web form of one of AWeber's types."""
        if form_type not in WEB_FORM_TYPES:
            raise BadRequest(f"type: Expected one of {', '.join(WEB_FORM_TYPES)}.")
        item = WebForm(self.new_id(), list_id, name, form_type, **counters)  # type: ignore[arg-type]
        self.web_forms_by_id[item.id] = item
        return item

    def add_split_test(self, list_id: int, name: str, components: list[tuple[int, int]]) -> SplitTest:
        """A new split test over web forms of the same list."""
        item = SplitTest(self.new_id(), list_id, name, components=list(components))
        self.split_tests_by_id[item.id] = item
        return item

    def add_landing_page(self, list_id: int, name: str, at: float, *, published: bool) -> LandingPage:
        """A new landing page, published or not."""
        page_id = landing_page_uuid(self.new_id())
        content = f"<h1>{html.escape(name)}</h1>"  # names come from config files: never markup
        item = LandingPage(page_id, list_id, name, at, at, at if published else None, content)
        self.landing_pages_by_id[page_id] = item
        return item

    def add_integration(self, account_id: int, service_name: str, login: str) -> Integration:
        """A new connected service."""
        item = Integration(self.new_id(), account_id, service_name, login)
        self.integrations_by_id[item.id] = item
        return item
