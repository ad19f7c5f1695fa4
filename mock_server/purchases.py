"""A purchase (``POST .../purchases``): AWeber's required and optional fields, checked. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from mock_server.api.model import BadRequest, parse_datetime, parse_text

REQUIRED = (
    "email",
    "ip_address",
    "vendor",
    "product_name",
    "event_note",
    "currency",
    "value",
    "event_time",
    "url",
)
ONLY = frozenset(REQUIRED) - {"email", "ip_address"}
OPTIONAL = frozenset({"ad_tracking", "custom_fields", "misc_notes", "name", "tags"})


def parse(fields: Mapping[str, object]) -> tuple[float, dict[str, object]]:
    """The purchase's time and the fields that describe its subscriber.

    AWeber's schema sets ``additionalProperties: false``, so an unknown field is a 400 too.
    """
    missing = [name for name in REQUIRED if fields.get(name) in (None, "")]
    if missing:
        raise BadRequest(f"{missing[0]}: Missing required argument.")
    unknown = sorted(set(fields) - set(REQUIRED) - OPTIONAL)
    if unknown:
        raise BadRequest(f"{unknown[0][:40]}: Unexpected field; a purchase takes documented fields only.")
    for name in ("vendor", "product_name", "event_note", "url"):
        parse_text(name, fields[name], limit=1000)
    currency = fields["currency"]
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise BadRequest("currency: Expected an ISO 4217 code such as USD.")
    value = fields["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest("value: Expected a number.")
    at = parse_datetime("event_time", fields["event_time"])
    return at, {key: fields[key] for key in fields if key not in ONLY}
