"""What the race/crash workers and their tests share: the helper under test, set up one way.

Everything here is the real helper (OAuthHelper, its coordinator, the real store) talking real
HTTP to the live mock.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx

from oob_helper.config import Settings
from oob_helper.helper import OAuthHelper
from oob_helper.providers import PROVIDERS
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord

API_PATHS = {"aweber": ("/1.0", "/1.0/accounts"), "constantcontact": ("/v3", "/v3/account/summary")}


@dataclass(frozen=True)
class Target:
    """Which mock, profile and client the helper talks to (JSON-ready, passed to workers)."""

    base_url: str
    client_id: str
    client_secret: str | None
    profile: str = "constantcontact"

    def settings(self, store_url: str) -> Settings:
        provider = PROVIDERS[self.profile].with_bases(
            self.base_url, self.base_url + API_PATHS[self.profile][0]
        )
        return Settings(
            provider=provider,
            client_id=self.client_id,
            client_secret=self.client_secret,
            store_url=store_url,
        )

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def api_works(self, access_token: str) -> bool:
        """Whether the mock's API accepts the access token."""
        response = httpx.get(
            self.base_url + API_PATHS[self.profile][1],
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return response.status_code == 200


def pass_gate(port: int) -> None:
    """Block until the test's ``Gate`` opens (a start line shared by every worker thread)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as gate:
        if gate.recv(1) != b"g":
            raise RuntimeError("the gate closed without opening")


class MutableClock:
    """The helper's injected clock; tests and workers set it to the mock's time."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def open_helper(target: Target, store_url: str, clock: MutableClock) -> OAuthHelper:
    """The helper with its own connection to the store."""
    store = open_store(store_url, encryption_keys=())
    return OAuthHelper(target.settings(store_url), store, clock=clock)


def aweber_helper(mock: object, db_path: object) -> OAuthHelper:
    """A helper on the AWeber profile against ``mock`` (its demo confidential client), a SQLite
    store at ``db_path`` and a clock set to the mock's time."""
    target = Target(mock.url, "demo-confidential", "demo-secret", profile="aweber")  # type: ignore[attr-defined]
    return open_helper(target, f"sqlite:///{db_path}", MutableClock(mock.now()))  # type: ignore[attr-defined]


def connect(control: object, helper: OAuthHelper, install: str) -> InstallRecord:
    """Authorize headlessly at the mock (``control.approve``) and complete it in the helper."""
    start = helper.start_authorization(install)
    params = dict(parse_qsl(urlsplit(start.authorize_url).query))
    code = control.approve(params)["code"]  # type: ignore[attr-defined]
    return helper.complete_authorization(install, start.attempt.attempt_id, code)
