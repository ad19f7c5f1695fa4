"""Worker processes for the store tests: each stands in for another process or host.

Usage: python worker.py COMMAND STORE_URL ARGS...; it prints "ready", and commands that race
wait for a line on stdin ("go") so that every worker starts at the same moment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from oob_helper.errors import VersionConflict
from oob_helper.stores import open_store
from oob_helper.tokens import InstallRecord, Token


def _ready_then_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def main(argv: list[str]) -> int:
    command, url, *args = argv
    keys = [k for k in os.environ.get("OOB_TEST_KEYS", "").split(",") if k]
    store = open_store(url, encryption_keys=keys)
    try:
        if command == "take":
            ids = args[0].split(",")
            _ready_then_go()
            taken = [i for i in ids if store.take_attempt(i) is not None]
            print(json.dumps(taken), flush=True)
        elif command == "setting":
            _ready_then_go()
            print(store.set_setting_if_absent("shared", args[0]), flush=True)
        elif command == "lockcount":
            install, counter, log, rounds = args[0], Path(args[1]), Path(args[2]), int(args[3])
            _ready_then_go()
            pid = os.getpid()
            for _ in range(rounds):
                with store.lock(install, timeout=60):
                    with log.open("a") as f:
                        f.write(f"in {pid}\n")
                    value = int(counter.read_text() or "0")
                    counter.write_text(str(value + 1))
                    with log.open("a") as f:
                        f.write(f"out {pid}\n")
            print("done", flush=True)
        elif command == "hold":
            lease = float(args[1]) if len(args) > 1 else 60.0
            with store.lock(args[0], timeout=30, lease=lease):
                print("held", flush=True)
                sys.stdin.readline()
        elif command == "refresh":
            # A refresh that stalls between reading and writing (the test kills or pauses it).
            install, lease = args[0], float(args[1])
            with store.lock(install, timeout=30, lease=lease) as held:
                current = store.get(install)
                assert current is not None
                print(f"read {current.version}", flush=True)
                sys.stdin.readline()
                print("lease held" if held.held else "lease lost", flush=True)
                token = Token(access_token="stale-access", refresh_token="stale-refresh")
                try:
                    store.put(InstallRecord(install=install, token=token), expected_version=current.version)
                except VersionConflict:
                    print("conflict", flush=True)
                else:
                    print("written", flush=True)
        elif command == "crashwrite":
            # Rewrite one install forever; the pair (access, refresh) and the version always match.
            install = args[0]
            first = True
            while True:
                current = store.get(install)
                version = None if current is None else current.version
                n = 1 if version is None else version + 1
                token = Token(access_token=f"access-{n}", refresh_token=f"refresh-{n}", obtained_at=n)
                record = InstallRecord(install=install, token=token, state="connected", last_refresh_at=n)
                store.put(record, expected_version=version)
                if first:
                    print("ready", flush=True)
                    first = False
        else:
            print(f"unknown command {command}", file=sys.stderr)
            return 2
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
