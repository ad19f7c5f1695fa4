"""Rendering: the Jinja2 environment (autoescape always on) and what each page shows.

Templates ship in ``oob_helper/web/templates``; a host app passes ``templates_dir`` to override
any of them by file name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from oob_helper.health import Health
from oob_helper.tokens import InstallRecord

STATE_LABELS = {
    "connected": "Connected",
    "not_connected": "Not connected",
    "reauthorization_required": "Reauthorization required",
}


def make_environment(templates_dir: str | Path | None = None) -> jinja2.Environment:
    """Package templates, with ``templates_dir`` searched first; every value is escaped."""
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("oob_helper.web", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def format_duration(seconds: float) -> str:
    """``1 h 59 min``, ``4 min``, ``30 s``: short and readable."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def format_time(timestamp: float | None) -> str:
    """A UTC time, or ``never``."""
    if timestamp is None:
        return "never"
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class StatusView:
    """What the status block shows for one install."""

    state: str
    label: str
    account_name: str | None
    account_id: str | None
    scopes: tuple[str, ...]
    expiry: str
    last_refresh: str
    reason: str | None

    @classmethod
    def of(cls, record: InstallRecord, now: float) -> StatusView:
        """The view of ``record`` at ``now``."""
        token = record.token
        if token is None or token.expires_at is None:
            expiry = "unknown" if token is not None else "no token"
        else:
            left = token.expires_at - now
            expiry = f"in {format_duration(left)}" if left > 0 else f"expired {format_duration(left)} ago"
        return cls(
            state=record.state,
            label=STATE_LABELS.get(record.state, "Not connected"),
            account_name=record.account_name,
            account_id=record.account_id,
            scopes=token.scopes if token is not None else (),
            expiry=expiry,
            last_refresh=format_time(record.last_refresh_at),
            reason=record.reason,
        )


# The banner's heading per problem (oob_helper/health.py says what each means).
BANNER_TITLES = {
    "site_mismatch": "This looks like a copy of another site's connection",
    "reauthorization_required": "This connection has stopped working",
    "refresh_token_lapsed": "This connection has stopped working",
    "refresh_token_expiring": "This connection will stop working soon",
    "refresh_overdue": "The scheduled refresh did not happen",
}


@dataclass(frozen=True)
class BannerView:
    """The banner over the status of an install in trouble (None when it is healthy)."""

    problem: str
    title: str
    text: str
    since: str | None  # None: not known (a copied store is found, not timed)
    breaks_on: str | None  # the date the connection breaks, for a lapsing refresh token
    reason: str | None
    action: str  # "refresh" (the Refresh now button fixes it) or "connect" (reconnect)

    @classmethod
    def of(cls, record: InstallRecord, health: Health) -> BannerView | None:
        """The banner for ``record`` in ``health``, or None."""
        if health.problem is None:
            return None
        return cls(
            problem=health.problem,
            title=BANNER_TITLES[health.problem],
            text=health.text or "",
            since=None
            if health.since is None and health.problem == "site_mismatch"
            else format_time(health.since),
            breaks_on=None if health.lapses_at is None else format_time(health.lapses_at),
            reason=_banner_reason(record, health),
            action="connect" if health.needs_person else "refresh",
        )


def _banner_reason(record: InstallRecord, health: Health) -> str | None:
    if health.problem == "reauthorization_required":
        return record.reason
    if health.problem == "site_mismatch":
        return f"connected in the store at {record.store_location}"
    return None


class Renderer:
    """Turns a template name and a context into an HTMLResponse."""

    def __init__(self, environment: jinja2.Environment, *, display_name: str) -> None:
        self.environment = environment
        self.display_name = display_name

    def render(
        self,
        template: str,
        context: dict[str, Any],
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """Render ``template`` with the common values added."""
        values = {"provider_name": self.display_name, **context}
        body = self.environment.get_template(template).render(values)
        return HTMLResponse(body, status_code=status_code, headers=headers)
