"""A long-lived race worker: per storm, N threads and M asyncio tasks pass a shared gate, then
ask for a token: the threads with ``get_token``, the tasks by calling the API through the
helper's async client (its httpx.Auth refreshes).

Started as ``python -m workers.race_worker CONFIG_JSON`` (cwd: tests/test_oob_helper). Reads one
JSON command per line on stdin: ``{"now": T}`` runs a storm with the helper's clock at T and
answers ``{"results": [{"token": ...} | {"error": ...}, ...]}`` (threads first, then tasks);
``{"quit": true}`` ends.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any

import httpx

from workers.common import MutableClock, Target, open_helper, pass_gate


def main() -> int:
    config = json.loads(sys.argv[1])
    target = Target(**config["target"])
    install: str = config["install"]
    threads: int = config["threads"]
    tasks: int = config["tasks"]
    gate_port: int = config["gate_port"]
    clock = MutableClock(0.0)
    with open_helper(target, config["store_url"], clock) as helper:
        if config.get("lease"):
            helper.records.lease = float(config["lease"])  # a short lock lease, renewed while held
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("quit"):
                break
            clock.now = float(command["now"])
            results: list[dict[str, Any]] = [{} for _ in range(threads)]

            def ask(i: int, results: list[dict[str, Any]] = results) -> None:
                try:
                    pass_gate(gate_port)
                    results[i] = {"token": helper.get_token(install).access_token}
                except Exception as exc:
                    results[i] = {"error": f"{type(exc).__name__}: {exc}"}

            async def ask_async(client: httpx.AsyncClient) -> dict[str, Any]:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", gate_port)
                    try:
                        if await asyncio.wait_for(reader.read(1), 60) != b"g":
                            raise RuntimeError("the gate closed without opening")
                    finally:
                        writer.close()
                        await writer.wait_closed()
                    response = await client.get(config["api_path"])
                    if response.status_code != 200:
                        return {"error": f"API answered {response.status_code}"}
                    return {"token": response.request.headers["Authorization"].removeprefix("Bearer ")}
                except Exception as exc:
                    return {"error": f"{type(exc).__name__}: {exc}"}

            async def storm_async(results: list[dict[str, Any]] = results) -> None:
                # One client shared by the tasks, as an async app would (a client per task would
                # spend the storm building TLS contexts).
                async with helper.async_client(install) as client:
                    results.extend(await asyncio.gather(*(ask_async(client) for _ in range(tasks))))

            workers = [threading.Thread(target=ask, args=(i,)) for i in range(threads)]
            workers.append(threading.Thread(target=asyncio.run, args=(storm_async(),)))
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            print(json.dumps({"results": results}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
