"""``oob-helper`` command line (OWNER: the helper-CLI work)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return 0
