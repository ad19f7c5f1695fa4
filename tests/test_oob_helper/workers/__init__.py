"""Subprocess entry points for the race and crash tests (``python -m workers.<name>``)."""
