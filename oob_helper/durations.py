"""Durations as people type them (``90s``, ``10m``, ``2h``, ``14d``, ``1h30m``): pure, no I/O.

Shared by the command line's flags and the settings that take a duration.
"""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``10m``, ``2h``, ``1d``, ``1h30m`` or a bare number of seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    pos = 0
    total = 0.0
    while pos < len(cleaned):
        match = _DURATION_PART.match(cleaned, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise ValueError(text)
    return total


__all__ = ["parse_duration"]
