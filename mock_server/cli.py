"""``mock-aweber`` command line (OWNER: control-plane helper)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return 0
