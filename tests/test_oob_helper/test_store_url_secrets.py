"""No password a store URL can carry is ever shown: not by ``status`` (text or JSON), reprs, or
error messages, for every URL form the drivers accept (issue 9, finding 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stores.servers import postgres_url, redis_url

from oob_helper.config import Settings
from oob_helper.errors import OobHelperError
from oob_helper.providers import AWEBER
from oob_helper.stores import open_store
from oob_helper.stores._common import redact_url
from oob_helper.tokens import InstallRecord

SECRET = "hunter2-Pw-9f"
OOB_HELPER = Path(sys.executable).with_name("oob-helper")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@cache:6379/0", "redis://:***@cache:6379/0"),
        (f"redis://user:{SECRET}@cache:6379/0", "redis://user:***@cache:6379/0"),
        (f"redis://cache:6379/0?password={SECRET}", "redis://cache:6379/0?password=***"),
        (f"rediss://cache:6379/0?prefix=x&password={SECRET}", "rediss://cache:6379/0?prefix=x&password=***"),
        (
            f"redis+sentinel://s1:26379/mymaster?sentinel_password={SECRET}",
            "redis+sentinel://s1:26379/mymaster?sentinel_password=***",
        ),
        (f"postgresql://u:{SECRET}@db/app", "postgresql://u:***@db/app"),
        (f"postgresql://u@db/app?password={SECRET}", "postgresql://u@db/app?password=***"),
        (
            f"postgres://u@db/app?sslpassword={SECRET}&schema=s",
            "postgres://u@db/app?sslpassword=***&schema=s",
        ),
        ("postgresql://u@db/app?schema=s", "postgresql://u@db/app?schema=s"),
    ],
)
def test_redact_url_hides_every_password_form(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def _with_password(url: str, where: str) -> str:
    if where == "userinfo":
        scheme, rest = url.split("://", 1)
        user, _, host = rest.rpartition("@")
        return f"{scheme}://{user}:{SECRET}@{host}" if user else f"{scheme}://:{SECRET}@{rest}"
    return url + ("&" if "?" in url else "?") + f"password={SECRET}"


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OOB_HELPER_")}
    env.update({"OOB_HELPER_CLIENT_ID": "demo-public", "OOB_HELPER_STORE": url})
    return env


@pytest.mark.parametrize("where", ["userinfo", "query"])
@pytest.mark.parametrize("backend", ["postgresql", "redis"])
def test_store_passwords_stay_out_of_status_reprs_and_errors(
    request: pytest.FixtureRequest, backend: str, where: str
) -> None:
    # The throwaway servers accept any password (trust auth; Redis's passwordless default
    # user), so status works and shows the store's location.
    base = postgres_url(request.config) if backend == "postgresql" else redis_url(request.config)
    url = _with_password(base, where)
    store = open_store(url, encryption_keys=[])
    try:
        store.put(InstallRecord(install="shop.example"), expected_version=None)
        shown = [repr(store), str(store.describe())]  # type: ignore[attr-defined]
        for args in (["status"], ["status", "--json"], ["status", "--install", "shop.example"]):
            result = subprocess.run(
                [str(OOB_HELPER), *args],
                check=False,
                capture_output=True,
                text=True,
                env=_env(url),
                timeout=120,
            )
            assert result.returncode in (0, 3), result.stderr
            shown += [result.stdout, result.stderr]
    finally:
        store.delete("shop.example")
        store.close()
    shown.append(repr(Settings(provider=AWEBER, client_id="c", store_url=url)))
    # An error path: the same URL forms, pointed at a port nobody listens on.
    host_port = base.split("://", 1)[1].split("@")[-1].split("/")[0]
    dead = _with_password(base.replace(host_port, "127.0.0.1:1"), where)
    with pytest.raises(OobHelperError) as info:
        open_store(dead, encryption_keys=[])
    shown.append(f"{info.value!s} {info.value!r}")
    result = subprocess.run(
        [str(OOB_HELPER), "status"], check=False, capture_output=True, text=True, env=_env(dead), timeout=120
    )
    assert result.returncode != 0
    shown += [result.stdout, result.stderr]
    leaks = [text for text in shown if SECRET in text]
    assert not leaks
    assert any("***" in text for text in shown[2:])  # status names the location, redacted


def test_a_bad_url_with_a_query_password_is_not_shown() -> None:
    with pytest.raises(OobHelperError) as info:
        open_store(f"postgresql://u@db:notaport/app?password={SECRET}", encryption_keys=[])
    assert SECRET not in str(info.value)
