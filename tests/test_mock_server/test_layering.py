"""The mock's layering (design.md, "Pure state in the mock too"): the state and the rules it
applies, per resource, import no web framework, directly or through another mock module; only
the edge modules (handlers, routes, app, runner) do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_oob_helper.test_helper_layering import runtime_imports

PACKAGE = Path(__file__).resolve().parents[2] / "mock_server"
# Package __init__ files are facades (mock_server's re-exports the app); a module's own imports
# are what the layering is about, so they are left out.
MODULES = {
    ".".join(("mock_server", *p.relative_to(PACKAGE).with_suffix("").parts)): p
    for p in PACKAGE.rglob("*.py")
    if p.name != "__init__.py"
}
PURE = [
    "mock_server.api.model",
    "mock_server.authorize",
    "mock_server.catalog",
    "mock_server.clients",
    "mock_server.clock",
    "mock_server.config",
    "mock_server.demo",
    "mock_server.demo_config",
    "mock_server.directory",
    "mock_server.entropy",
    "mock_server.errors",
    "mock_server.events",
    "mock_server.faults",
    "mock_server.grants",
    "mock_server.mailings",
    "mock_server.origins",
    "mock_server.persist",
    "mock_server.policy",
    "mock_server.purchases",
    "mock_server.ratelimit",
    "mock_server.snapshot",
    "mock_server.state",
    "mock_server.tokens",
    "mock_server.webhook_records",
    "mock_server.webhooks",
]
FRAMEWORKS = ("starlette", "jinja2", "uvicorn", "httpx")


def reachable(module: str) -> set[str]:
    """Every module ``module`` imports at run time, following the mock's own modules."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in MODULES:
            todo.extend(runtime_imports(MODULES[name]))
    return seen


@pytest.mark.parametrize("module", PURE)
def test_pure_state_imports_no_web_framework(module: str) -> None:
    assert module in MODULES
    found = sorted(name for name in reachable(module) if name.split(".")[0] in FRAMEWORKS)
    assert not found, f"{module} reaches {found}: state and rules stay free of HTTP types"


def test_the_check_follows_the_mock_s_own_modules() -> None:
    # The edge imports starlette itself; the handlers' module reaches it only through others too.
    assert "starlette.types" in reachable("mock_server.edge")
    assert "mock_server.events_asgi" in reachable("mock_server.edge")
    assert any(name.startswith("starlette") for name in reachable("mock_server.routes"))
