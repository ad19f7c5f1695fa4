"""The public surface: __all__ and the module namespace stay in sync (httpx's test style)."""

from __future__ import annotations

import oob_helper
import oob_helper.errors


def test_all_names_exist() -> None:
    for name in oob_helper.__all__:
        assert hasattr(oob_helper, name), name


def test_every_public_member_is_exported() -> None:
    members = {
        name
        for name, value in vars(oob_helper).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("oob_helper")
    }
    assert members <= set(oob_helper.__all__), members - set(oob_helper.__all__)


def test_all_is_unique() -> None:
    assert len(set(oob_helper.__all__)) == len(oob_helper.__all__)


def test_every_error_class_is_exported() -> None:
    errors = {
        name
        for name, value in vars(oob_helper.errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert errors <= set(oob_helper.__all__), errors - set(oob_helper.__all__)


def test_core_names_present() -> None:
    for name in ("OAuthHelper", "Settings", "Token", "InstallRecord", "TokenStore", "Provider", "open_store"):
        assert name in oob_helper.__all__
