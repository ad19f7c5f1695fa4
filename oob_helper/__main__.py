"""``python -m oob_helper``: the same as ``oob-helper``."""

from __future__ import annotations

import sys

from oob_helper.cli import main

sys.exit(main())
