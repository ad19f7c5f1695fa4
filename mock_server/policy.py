"""Refresh-token policies: what a refresh grant does to the token it consumed.

Each profile has defaults; ``MockConfig.refresh_policy`` overrides them for the whole mock and a
client's ``refresh_policy`` (``ClientSpec``, ``add_client``, ``POST /_mock/clients``) overrides
them again for that client. Options:

``rotate`` (bool)
    Issue a new refresh token on each refresh. Off = a long-lived token: the same value comes
    back each time and its lifetime restarts on use (Constant Contact's "long-lived" mode).
``keep_old_refresh_token`` (bool)
    With ``rotate``, the consumed refresh token stays valid. AWeber's docs are silent on
    whether the previous token keeps working and its own clients always store the new one, so
    the default is off, which catches clients that forget to store it. At most
    ``MAX_KEPT_REFRESH_TOKENS`` kept tokens live per grant; the least recently used goes first.
``reuse_detection`` (bool)
    Presenting a rotated refresh token (outside the grace window) revokes every access and
    refresh token of its grant, as RFC 9700 section 4.14 advises. The mock remembers the last
    ``MAX_REMEMBERED_ROTATIONS`` rotated tokens of each grant; older ones are simply unknown.
``grace_seconds`` (float >= 0)
    For this long after a rotation the previous refresh token returns the SAME new pair again
    (for a client whose answer was lost) instead of counting as reuse.
``refresh_token_ttl`` (int seconds or null)
    Lifetime of a refresh token from issue (null = no expiry; AWeber documents none).
``refresh_requires_offline_access`` (bool)
    Issue refresh tokens only when the grant holds the ``offline_access`` scope (Constant
    Contact's rule, providers.md B3).

Profile defaults: ``aweber`` rotates, old token dies, no reuse detection, no grace, no
refresh-token expiry. ``constantcontact`` rotates single-use, reuse detection on, no grace,
180-day refresh tokens, ``offline_access`` required (providers.md B5, B6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

MAX_KEPT_REFRESH_TOKENS = 100
MAX_REMEMBERED_ROTATIONS = 32


@dataclass(frozen=True)
class RefreshPolicy:
    """The refresh-token behaviour of one client (see the module docstring)."""

    rotate: bool = True
    keep_old_refresh_token: bool = False
    reuse_detection: bool = False
    grace_seconds: float = 0.0
    refresh_token_ttl: int | None = None
    refresh_requires_offline_access: bool = False


PROFILE_POLICIES: dict[str, RefreshPolicy] = {
    "aweber": RefreshPolicy(),
    "constantcontact": RefreshPolicy(
        reuse_detection=True,
        refresh_token_ttl=180 * 24 * 3600,
        refresh_requires_offline_access=True,
    ),
}

_BOOL_OPTIONS = {"rotate", "keep_old_refresh_token", "reuse_detection", "refresh_requires_offline_access"}


def apply_overrides(base: RefreshPolicy, overrides: Mapping[str, object] | None) -> RefreshPolicy:
    """``base`` with ``overrides`` applied; ValueError naming any unknown or ill-typed option."""
    if not overrides:
        return base
    if not isinstance(overrides, Mapping):
        raise ValueError("refresh_policy must be an object of options")  # noqa: TRY004
    known = {f.name for f in fields(RefreshPolicy)}
    changes: dict[str, object] = {}
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"refresh_policy: unknown option {key!r} (known: {', '.join(sorted(known))})")
        if key in _BOOL_OPTIONS:
            if not isinstance(value, bool):
                raise ValueError(f"refresh_policy.{key} must be true or false")
        elif key == "grace_seconds":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError("refresh_policy.grace_seconds must be a number >= 0")
            value = float(value)  # noqa: PLW2901
        elif (
            key == "refresh_token_ttl"
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int) or value <= 0)
        ):
            raise ValueError("refresh_policy.refresh_token_ttl must be a positive integer or null")
        changes[key] = value
    return replace(base, **changes)  # type: ignore[arg-type]
