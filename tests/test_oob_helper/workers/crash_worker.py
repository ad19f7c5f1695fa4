"""A one-shot worker that gets killed: opens the helper, says ready, and on ``{"now": T}`` asks
for a token (refreshing it) with the helper's clock at T, then prints what happened.

Started as ``python -m workers.crash_worker CONFIG_JSON`` (cwd: tests/test_oob_helper).
"""

from __future__ import annotations

import json
import sys

from workers.common import MutableClock, Target, open_helper


def main() -> int:
    config = json.loads(sys.argv[1])
    install: str = config["install"]
    clock = MutableClock(0.0)
    with open_helper(Target(**config["target"]), config["store_url"], clock) as helper:
        helper.status(install)  # open the store connection before the clock starts
        print(json.dumps({"ready": True}), flush=True)
        command = json.loads(sys.stdin.readline())
        clock.now = float(command["now"])
        try:
            answer = {"token": helper.get_token(install).access_token}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
