"""``python -m oob_helper``: the same as ``oob-helper``."""

from __future__ import annotations

from oob_helper.cli import console_main

console_main()
