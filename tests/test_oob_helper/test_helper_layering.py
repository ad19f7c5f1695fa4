"""The package's layering, as oob_helper/SANSIO.md states it (the pure core has its own test,
test_sansio.py):

- starlette and jinja2 only under ``oob_helper/web/``;
- httpx only in the transport and the httpx auth;
- ``mock_server`` only in the demo's entry point;
- the refresh path reads top-down: auth -> coordinator -> grant -> transport, and the record
  owner below the coordinator; no module imports one above it;
- one owner of install records: outside ``records.py`` (and the stores and the bulk
  maintenance commands that copy records unchanged), nothing writes or deletes a record.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "oob_helper"
MODULES = {
    ".".join(("oob_helper", *p.relative_to(PACKAGE).with_suffix("").parts)): p
    for p in PACKAGE.rglob("*.py")
    if p.name != "__init__.py" or p.parent != PACKAGE
}

# Each module may import only modules of a lower rank (or unranked ones: the pure core, the
# stores, config). Higher numbers sit above lower ones.
RANKS = {
    "oob_helper.transport": 1,
    "oob_helper.grant": 2,
    "oob_helper.records": 2,
    "oob_helper.refresh": 3,
    "oob_helper.auth": 4,
    "oob_helper.helper": 5,
}
# Modules that write records besides their owner: the stores themselves, and the bulk
# maintenance that copies records unchanged (migrate-store, re-encryption after key rotation).
RECORD_WRITERS = {"oob_helper.records", "oob_helper.cli_migrate", "oob_helper.stores"}
WRITE_METHODS = {"put", "delete", "import_record", "import_records"}


def runtime_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` runs (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_web_frameworks_only_under_web(module: str) -> None:
    if module.startswith("oob_helper.web"):
        return
    found = {n for n in runtime_imports(MODULES[module]) if _top(n) in ("starlette", "jinja2", "uvicorn")}
    assert not found, f"{module} imports {sorted(found)}: web frameworks belong in oob_helper/web/"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_httpx_only_in_the_transport_and_the_auth(module: str) -> None:
    if module in ("oob_helper.transport", "oob_helper.auth") or module.startswith("oob_helper.web"):
        return  # the web helper is a shell of its own
    found = {n for n in runtime_imports(MODULES[module]) if _top(n) == "httpx"}
    assert not found, f"{module} imports httpx: only the transport and the auth may"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_mock_only_in_the_demo(module: str) -> None:
    if module == "oob_helper.demo":
        return
    found = {n for n in runtime_imports(MODULES[module]) if _top(n) == "mock_server"}
    assert not found, f"{module} imports the mock: only the demo's entry point may"


@pytest.mark.parametrize("module", sorted(RANKS))
def test_the_refresh_path_reads_top_down(module: str) -> None:
    rank = RANKS[module]
    for name in runtime_imports(MODULES[module]):
        target = next((m for m in RANKS if name == m or name.startswith(m + ".")), None)
        if target is None or target == module:
            continue
        assert RANKS[target] < rank, f"{module} imports {target}, which sits above it"


def record_writes(path: Path) -> list[str]:
    """Calls like ``<something store-ish>.put(...)`` / ``.delete(...)`` in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in WRITE_METHODS
            and "store" in ast.unparse(node.func.value).lower()
        ):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node.func)}")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_record_owner_writes_records(module: str) -> None:
    if any(module == w or module.startswith(w + ".") for w in RECORD_WRITERS):
        return
    assert record_writes(MODULES[module]) == [], f"{module} writes records: ask oob_helper.records"


def test_the_checks_catch_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "import httpx\n"
        "from oob_helper.helper import OAuthHelper\n"
        "if TYPE_CHECKING:\n    import starlette\n"
        "def f(store):\n    store.put(1, expected_version=None)\n"
    )
    names = runtime_imports(bad)
    assert "httpx" in names
    assert "oob_helper.helper" in names
    assert "starlette" not in names
    assert record_writes(bad) == ["bad.py:7: store.put"]
