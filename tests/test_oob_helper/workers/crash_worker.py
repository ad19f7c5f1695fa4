"""A one-shot worker that gets killed: opens the helper, says ready, and on ``{"now": T}`` asks
for a token (refreshing it) with the helper's clock at T, then prints what happened.

With ``"stop_at"`` in the command it stops at that phase of the refresh, says ``{"at": phase}``
and waits there to be killed: ``locked`` (inside the refresh lock, before the token request),
``answered`` (the provider's answer is in, the record not written yet) or ``written`` (the
record is written, the lock still held). These markers wrap the real store's ``lock`` and
``put`` on this one instance; the refresh itself is the helper's own code.

``"lease"`` in the config shortens the refresh lock's lease, so a killed holder on Redis or
PostgreSQL frees it at once instead of after the default minute (one worker runs at a time,
nobody competes for the lock).

Started as ``python -m workers.crash_worker CONFIG_JSON`` (cwd: tests/test_oob_helper).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from oob_helper.stores import TokenStore
from workers.common import MutableClock, Target, open_helper


class Phases:
    """Markers around the store calls a refresh makes; stops at ``stop_at`` when set."""

    def __init__(self, store: TokenStore, lease: float | None) -> None:
        self.stop_at: str | None = None
        real_lock, real_put = store.lock, store.put

        @contextlib.contextmanager
        def lock(install: str, **options: Any) -> Iterator[Any]:
            if lease is not None:
                options["lease"] = lease
            with real_lock(install, **options) as held:
                self.reached("locked")
                yield held

        def put(*args: Any, **kwargs: Any) -> Any:
            self.reached("answered")
            written = real_put(*args, **kwargs)
            self.reached("written")
            return written

        store.lock = lock  # type: ignore[method-assign]
        store.put = put  # type: ignore[method-assign]

    def reached(self, phase: str) -> None:
        if phase == self.stop_at:
            print(json.dumps({"at": phase}), flush=True)
            sys.stdin.readline()  # the test kills this process here
            raise AssertionError(f"still alive at {phase}")


def main() -> int:
    config = json.loads(sys.argv[1])
    install: str = config["install"]
    clock = MutableClock(0.0)
    with open_helper(Target(**config["target"]), config["store_url"], clock) as helper:
        helper.status(install)  # open the store connection before the clock starts
        phases = Phases(helper.store, config.get("lease"))
        print(json.dumps({"ready": True}), flush=True)
        command = json.loads(sys.stdin.readline())
        clock.now = float(command["now"])
        phases.stop_at = command.get("stop_at")
        try:
            answer = {"token": helper.get_token(install).access_token}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
