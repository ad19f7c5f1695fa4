"""Issue 11 benchmark: what a sandbox adds to a refresh grant, counted in instructions.

The token endpoint benchmark (bench_token_endpoint) times a sandbox against bare Starlette
under wrk; on this shared machine its per-round ratios spread widely. This one counts the
machine instructions the mock's whole ASGI app executes per refresh grant, with valgrind's
callgrind (an instruction count does not move with the machine's load): the same app, the
same rotation chain, once in the default world (``/oauth2/token``) and once in a sandbox
(``/sandbox/bench/oauth2/token``). Each world runs in a process of its own, twice, with two
chain lengths; the difference of the two counts over the difference of the lengths is the
cost of one refresh grant without the start-up. Printed: instructions per refresh grant in
each world and their ratio (a sandbox resolves its prefix and finds its world in the
registry under its lock; target: at most 1.03 of the default world).

    .venv/bin/python -m bench.bench_sandbox_edge [--short 300] [--long 1500]

Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._harness import ROOT, compile_packages

CLIENT_ID, CLIENT_SECRET = "bench-confidential", "bench-secret"
OOB = "urn:ietf:wg:oauth:2.0:oob"
SANDBOX = "/sandbox/bench"
TARGET = 1.03


async def _call(app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """One request through the app as uvicorn would hand it over; the answer's body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8081"), *headers],
        "server": ("127.0.0.1", 8081),
        "client": ("127.0.0.1", 50000),
    }
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


async def _chain(prefix: str, refreshes: int) -> None:
    """Set up one world of a fresh app, then follow one rotation chain ``refreshes`` long."""
    from mock_server.app import create_app  # noqa: PLC0415 - in the child only
    from mock_server.cli import tune_gc  # noqa: PLC0415
    from mock_server.config import MockConfig  # noqa: PLC0415

    app = create_app(MockConfig())
    as_json = [(b"content-type", b"application/json")]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode())
    form = [(b"content-type", b"application/x-www-form-urlencoded"), (b"authorization", b"Basic " + basic)]
    if prefix:
        await _call(app, "POST", "/_mock/sandboxes", json.dumps({"name": "bench"}).encode(), as_json)
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [OOB],
        "name": "bench",
        "refresh_policy": {"grace_seconds": 5},
    }
    await _call(app, "POST", prefix + "/_mock/clients", json.dumps(client).encode(), as_json)
    approve = {
        "client_id": CLIENT_ID,
        "redirect_uri": OOB,
        "response_type": "code",
        "scope": "account.read",
        "state": "bench",
        "username": "demo",
    }
    code = json.loads(
        await _call(app, "POST", prefix + "/_mock/approve", json.dumps(approve).encode(), as_json)
    )
    exchange = f"grant_type=authorization_code&code={code['code']}&redirect_uri={OOB}".encode()
    token = json.loads(await _call(app, "POST", prefix + "/oauth2/token", exchange, form))["refresh_token"]
    tune_gc()  # as serve does
    path = prefix + "/oauth2/token"
    for _ in range(refreshes):
        answer = await _call(
            app, "POST", path, b"grant_type=refresh_token&refresh_token=" + token.encode(), form
        )
        token = json.loads(answer)["refresh_token"]


def _instructions(prefix: str, refreshes: int, out_dir: Path) -> int:
    """Instructions callgrind counts for one child process following a chain."""
    out = out_dir / f"callgrind.{prefix.strip('/').replace('/', '-') or 'default'}.{refreshes}"
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.bench_sandbox_edge",
            "--child",
            prefix or "/",
            str(refreshes),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(f"callgrind run failed: {result.stderr[-2000:]}")
    found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if found is None:
        raise SystemExit(f"no instruction total in {out}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    """Count both worlds at two chain lengths; print instructions per refresh and the ratio."""
    compile_packages()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", type=int, default=300)
    parser.add_argument("--long", type=int, default=1500)
    parser.add_argument("--child", nargs=2, metavar=("WORLD", "REFRESHES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        world, refreshes = args.child
        asyncio.run(_chain("" if world == "/" else world, int(refreshes)))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install valgrind")
    runs = [(prefix, n) for prefix in ("", SANDBOX) for n in (args.short, args.long)]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        counts = dict(zip(runs, pool.map(lambda run: _instructions(*run, Path(tmp)), runs), strict=True))
    per = {
        prefix: (counts[prefix, args.long] - counts[prefix, args.short]) / (args.long - args.short)
        for prefix in ("", SANDBOX)
    }
    ratio = per[SANDBOX] / per[""]
    verdict = "meets" if ratio <= TARGET else "misses"
    print(
        f"instructions per refresh grant through the mock's app (callgrind, chains of {args.short} and "
        f"{args.long}): default world {per['']:,.0f}, sandbox {per[SANDBOX]:,.0f} "
        f"(+{per[SANDBOX] - per['']:,.0f}); ratio {ratio:.3f} ({verdict} the target <= {TARGET})"
    )


if __name__ == "__main__":
    main()
