"""A long-lived worker whose helper has notifiers: per storm, N threads pass a shared gate and
ask for a token; then the worker waits for its notifications and answers.

Started as ``python -m workers.notify_worker CONFIG_JSON`` (cwd: tests/test_oob_helper). The
config's ``notify_env`` holds ``OOB_HELPER_NOTIFY_*`` variables, read by the real settings
edge. ``{"now": T}`` runs a storm with the helper's clock at T and answers
``{"results": [...], "log": "<every log line of the worker at DEBUG>"}``; ``{"emit": EVENT}``
hands the event's dict to the notifier and answers when it was handled; ``{"quit": true}`` ends.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import sys
import threading
from typing import Any

from oob_helper.config import load_settings
from oob_helper.helper import OAuthHelper
from oob_helper.lifecycle import LifecycleEvent
from oob_helper.stores import open_store
from workers.common import MutableClock, Target, pass_gate


def main() -> int:
    config = json.loads(sys.argv[1])
    target = Target(**config["target"])
    install: str = config["install"]
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    notify = load_settings(
        overrides={}, environ=config["notify_env"], config_file=None, require_client_id=False
    ).notify
    settings = dataclasses.replace(target.settings(config["store_url"]), notify=notify)
    clock = MutableClock(0.0)
    with OAuthHelper(settings, open_store(config["store_url"], encryption_keys=()), clock=clock) as helper:
        assert helper.notifier is not None
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("quit"):
                break
            if "emit" in command:  # the same event seen again in this process: the throttle decides
                helper.notifier(LifecycleEvent(**command["emit"]))
                print(json.dumps({"drained": helper.notifier.drain(60), "log": log.getvalue()}), flush=True)
                continue
            clock.now = float(command["now"])
            results: list[dict[str, Any]] = [{} for _ in range(config["threads"])]

            def ask(i: int, results: list[dict[str, Any]] = results) -> None:
                try:
                    pass_gate(config["gate_port"])
                    results[i] = {"token": helper.get_token(install).access_token}
                except Exception as exc:
                    results[i] = {"error": type(exc).__name__}

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(config["threads"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            drained = helper.notifier.drain(60)
            print(json.dumps({"results": results, "drained": drained, "log": log.getvalue()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
