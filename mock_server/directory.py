"""Accounts, lists and subscribers behind the API slice; no HTTP types. OWNER: API helper."""

from __future__ import annotations

from mock_server.clock import Clock


class Directory:
    """The API's data. ``create_account`` is called by MockState when a user is created."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._next_account = 1

    def create_account(self, username: str, *, demo_data: bool = False) -> int:
        """Create the account a user owns; with ``demo_data`` seed the demo lists. Returns its id."""
        account_id = self._next_account
        self._next_account += 1
        return account_id

    def reset(self) -> None:
        """Forget everything (MockState.reset re-creates the configured users' accounts)."""
        self._next_account = 1
