"""Demo data from the config file: the ``[demo]`` table replaces or extends the built-in demo
data of every account whose user has ``demo_data = true``.

TOML (JSON takes the same structure)::

    [demo]
    replace = false          # true: only what follows; false: the built-in demo data, then this

    [[demo.lists]]
    name = "Workshop attendees"
    custom_fields = ["Company"]
    subscribers = [
      { email = "ann@example.com", name = "Ann", tags = ["vip"], custom_fields = { Company = "ACME" } },
      { email = "bob@example.com", status = "unsubscribed" },   # or "unconfirmed"
    ]
    segments = [{ name = "VIPs" }, { name = "A/B test", is_split_test = true }]
    web_forms = [{ name = "Footer", type = "inline" }, { name = "Exit", type = "lightbox" }]
    split_tests = [{ name = "Footer or exit", web_forms = ["Footer", "Exit"] }]
    landing_pages = [{ name = "Launch", published = true }]
    followups = ["Welcome", "Day two"]
    broadcasts = [
      { subject = "Last week", body_text = "Hi", status = "sent", days = -2 },
      { subject = "Next week", body_html = "<p>Hi</p>", status = "scheduled", days = 7 },
      { subject = "Unfinished", body_text = "Hi" },                      # a draft
    ]

    [[demo.integrations]]
    service_name = "facebook"
    login = "My page"

``days`` places a sent or scheduled broadcast relative to the clock when the account is made.
A file is checked when it is loaded, by seeding a scratch account: a mistake is a ValueError
naming the entry, never a half-seeded server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mock_server.api.model import Account, DirectoryError
from mock_server.clock import Clock

if TYPE_CHECKING:
    from mock_server.directory import Directory

DAY = 86400.0
_LIST_KEYS = {
    "name",
    "custom_fields",
    "subscribers",
    "segments",
    "web_forms",
    "split_tests",
    "landing_pages",
    "followups",
    "broadcasts",
}


def _table(where: str, raw: object, allowed: set[str], required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table/object")  # noqa: TRY004
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in raw:
            raise ValueError(f"{where}: missing key {key!r}")
    return raw


def _items(where: str, raw: object) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{where} must be a list")  # noqa: TRY004
    return raw


def replaces(spec: Mapping[str, Any] | None) -> bool:
    """Whether the spec replaces the built-in demo data rather than extending it."""
    return bool(spec and spec.get("replace", False))


def apply(directory: Directory, account: Account, spec: Mapping[str, Any]) -> None:
    """Add the spec's lists and integrations to ``account``; ValueError names a bad entry."""
    _table("demo", spec, {"replace", "lists", "integrations"})
    if not isinstance(spec.get("replace", False), bool):
        raise ValueError("demo.replace must be true or false")  # noqa: TRY004
    for index, raw in enumerate(_items("demo.integrations", spec.get("integrations"))):
        where = f"demo.integrations[{index}]"
        item = _table(where, raw, {"service_name", "login"}, ("service_name", "login"))
        directory.catalog.add_integration(account.id, str(item["service_name"]), str(item["login"]))
    for index, raw in enumerate(_items("demo.lists", spec.get("lists"))):
        where = f"demo.lists[{index}]"
        try:
            _list(directory, account, where, _table(where, raw, _LIST_KEYS, ("name",)))
        except DirectoryError as exc:
            raise ValueError(f"{where}: {exc.message}") from None
        except (TypeError, KeyError, ValueError) as exc:
            message = str(exc)
            raise ValueError(message if message.startswith("demo.") else f"{where}: {message}") from None


def _list(directory: Directory, account: Account, where: str, spec: Mapping[str, Any]) -> None:
    catalog, mailings, now = directory.catalog, directory.mailings, directory.clock.now()
    mailing_list = directory.create_list(account.id, str(spec["name"]))
    for name in _items(f"{where}.custom_fields", spec.get("custom_fields")):
        catalog.add_custom_field(mailing_list.id, name)
    for number, raw in enumerate(_items(f"{where}.subscribers", spec.get("subscribers"))):
        item = _table(
            f"{where}.subscribers[{number}]", raw, {"email", "name", "tags", "custom_fields", "status"}
        )
        fields = {key: item[key] for key in ("email", "name", "tags", "custom_fields") if key in item}
        subscriber, _ = directory.add_subscriber(account.id, mailing_list.id, fields)
        status = item.get("status", "subscribed")
        if status not in ("subscribed", "unsubscribed", "unconfirmed"):
            raise ValueError(
                f"{where}.subscribers[{number}].status must be subscribed, unsubscribed or unconfirmed"
            )
        directory.set_status(
            subscriber, status, now, "unsubscribe link" if status == "unsubscribed" else None
        )
    for number, raw in enumerate(_items(f"{where}.segments", spec.get("segments"))):
        item = _table(f"{where}.segments[{number}]", raw, {"name", "is_split_test"}, ("name",))
        catalog.add_segment(mailing_list.id, str(item["name"]), is_split_test=bool(item.get("is_split_test")))
    forms: dict[str, int] = {}
    for number, raw in enumerate(_items(f"{where}.web_forms", spec.get("web_forms"))):
        item = _table(f"{where}.web_forms[{number}]", raw, {"name", "type", "tags"}, ("name", "type"))
        form = catalog.add_web_form(
            mailing_list.id, str(item["name"]), str(item["type"]), tags=list(item.get("tags", []))
        )
        forms[form.name] = form.id
    for number, raw in enumerate(_items(f"{where}.split_tests", spec.get("split_tests"))):
        item = _table(f"{where}.split_tests[{number}]", raw, {"name", "web_forms"}, ("name", "web_forms"))
        names = _items(f"{where}.split_tests[{number}].web_forms", item["web_forms"])
        missing = [name for name in names if name not in forms]
        if missing or not names:
            raise ValueError(
                f"{where}.split_tests[{number}]: name web forms of this list ({missing or names})"
            )
        weight = 100 // len(names)
        catalog.add_split_test(mailing_list.id, str(item["name"]), [(forms[name], weight) for name in names])
    for number, raw in enumerate(_items(f"{where}.landing_pages", spec.get("landing_pages"))):
        item = _table(f"{where}.landing_pages[{number}]", raw, {"name", "published"}, ("name",))
        catalog.add_landing_page(
            mailing_list.id, str(item["name"]), now, published=bool(item.get("published"))
        )
    for number, subject in enumerate(_items(f"{where}.followups", spec.get("followups")), 1):
        mailings.add_followup(mailing_list.id, str(subject), number, 0 if number == 1 else 1)
    for number, raw in enumerate(_items(f"{where}.broadcasts", spec.get("broadcasts"))):
        item_where = f"{where}.broadcasts[{number}]"
        item = _table(item_where, raw, {"subject", "body_html", "body_text", "status", "days"}, ("subject",))
        status, days = item.get("status", "draft"), float(item.get("days", 0))
        valid = status == "draft" or (status == "sent" and days < 0) or (status == "scheduled" and days > 0)
        if not valid:
            raise ValueError(f"{item_where}: status draft, scheduled (days > 0) or sent (days < 0)")
        body = {key: str(item[key]) for key in ("body_html", "body_text") if key in item}
        broadcast = mailings.create(
            mailing_list.id, now + min(days, 0) * DAY - 60, subject=str(item["subject"]), **body
        )
        if status != "draft":
            mailings.schedule(broadcast, now + days * DAY, now + min(days, 0) * DAY - 60)
    mailings.catch_up(now)


def check(spec: object) -> Mapping[str, Any]:
    """Validate a ``[demo]`` table by seeding a scratch account with it."""
    from mock_server.directory import Directory  # noqa: PLC0415 -- directory imports this module's users

    if not isinstance(spec, Mapping):
        raise ValueError("demo must be a table/object with lists and integrations")  # noqa: TRY004
    scratch = Directory(Clock())
    account_id = scratch.create_account("check")
    apply(scratch, scratch.account(account_id), spec)
    return spec
