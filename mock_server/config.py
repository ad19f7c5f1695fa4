"""Mock configuration: profile, lifetimes, policies, and the clients and users to start with.

OWNER: the OAuth-server helper fills this in (loading JSON/TOML files included). The fields
below are the contract the other modules rely on; add fields, do not rename these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Profile = Literal["aweber", "constantcontact"]


@dataclass(frozen=True)
class ClientSpec:
    """A client registration to create at start-up."""

    client_id: str
    client_secret: str | None  # None = public client (PKCE required)
    redirect_uris: tuple[str, ...]
    name: str = "Demo application"


@dataclass(frozen=True)
class UserSpec:
    """A user (and the account it owns) to create at start-up."""

    username: str
    password: str
    demo_data: bool = False  # seed the account with the demo lists and subscribers


@dataclass(frozen=True)
class MockConfig:
    """Everything that shapes the mock's behaviour. Defaults follow the profile."""

    profile: Profile = "aweber"
    access_token_ttl: int | None = None  # None = the profile's (7200 aweber, 86400 cc)
    code_ttl: int = 600
    rate_limit_enabled: bool = True
    rate_limit_per_minute: int = 120
    rate_limit_lockout: int = 60
    clients: tuple[ClientSpec, ...] | None = None  # None = the demo clients
    users: tuple[UserSpec, ...] | None = None  # None = the demo user
    extra: dict[str, object] = field(default_factory=dict)
