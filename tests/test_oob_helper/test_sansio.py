"""The pure core imports only the standard library and itself (oob_helper/SANSIO.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "oob_helper"
PURE = {
    "oob_helper.tokens",
    "oob_helper.pkce",
    "oob_helper.protocol",
    "oob_helper.providers",
    "oob_helper.errors",
    "oob_helper.health",
    "oob_helper.durations",
}
PURE |= {f"oob_helper.{p.stem}" for p in PACKAGE.glob("protocol_*.py")}
# Stdlib modules that do I/O or read the clock have no place in the core.
FORBIDDEN_STDLIB = {
    "socket",
    "http",
    "urllib.request",
    "subprocess",
    "os",
    "io",
    "time",
    "logging",
    "asyncio",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pytest.fail(f"{path.name}: use absolute imports")
            assert node.module is not None
            names.add(node.module)
    return names


def test_the_pure_set_is_not_empty() -> None:
    assert len(PURE) >= 6


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_module_imports(module: str) -> None:
    path = PACKAGE / (module.split(".", 1)[1] + ".py")
    for name in imported_modules(path):
        top = name.split(".")[0]
        if name == "__future__":
            continue
        if top == "oob_helper":
            assert name in PURE, f"{module} imports {name}, which is not in the pure core"
            continue
        assert top in sys.stdlib_module_names, f"{module} imports {name}, which is not the stdlib"
        assert name not in FORBIDDEN_STDLIB, f"{module} imports {name} (I/O)"
        assert top not in FORBIDDEN_STDLIB, f"{module} imports {name} (I/O)"


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import httpx\nfrom oob_helper.transport import Transport\n")
    names = imported_modules(bad)
    assert "httpx" in names
    assert "httpx" not in sys.stdlib_module_names
    assert "oob_helper.transport" not in PURE
