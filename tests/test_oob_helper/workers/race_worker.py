"""A long-lived race worker: per storm, N threads pass a shared gate, then ask for a token.

Started as ``python -m workers.race_worker CONFIG_JSON`` (cwd: tests/test_oob_helper). Reads one
JSON command per line on stdin: ``{"now": T}`` runs a storm with the helper's clock at T and
answers ``{"results": [{"token": ...} | {"error": ...}, ...]}``; ``{"quit": true}`` ends.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from typing import Any

from workers.common import MutableClock, Target, open_helper


def main() -> int:
    config = json.loads(sys.argv[1])
    target = Target(**config["target"])
    install: str = config["install"]
    threads: int = config["threads"]
    clock = MutableClock(0.0)
    with open_helper(target, config["store_url"], clock) as helper:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("quit"):
                break
            clock.now = float(command["now"])
            results: list[dict[str, Any]] = [{} for _ in range(threads)]

            def ask(i: int, results: list[dict[str, Any]] = results) -> None:
                try:
                    with socket.create_connection(("127.0.0.1", config["gate_port"]), timeout=60) as gate:
                        if gate.recv(1) != b"g":
                            raise RuntimeError("the gate closed without opening")
                    results[i] = {"token": helper.get_token(install).access_token}
                except Exception as exc:
                    results[i] = {"error": f"{type(exc).__name__}: {exc}"}

            workers = [threading.Thread(target=ask, args=(i,)) for i in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            print(json.dumps({"results": results}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
