"""The floor ``refresh --all`` is measured against: the same durable work, no helper logic.

One keep-alive httpx client sends each install's refresh grant in turn and commits the new pair
to SQLite (``synchronous=FULL``, one transaction per refresh) before the next; nothing else
(no lock, no compare-and-set, no retries, no record shape). Run as a subprocess by
bench_refresh_all, so its CPU time is counted like the CLI's. With THREADS, that many threads
share the client (one kept connection each) and take the rows in turn, each committing on a
connection of its own: the floor of the delayed runs, which need as many requests in flight.
With CLIENT ``stdlib``, each thread sends on a kept ``http.client.HTTPConnection`` of its own
instead of httpx: not the floor of any target, but it shows the delayed runs what the same
work costs without httpx's per-request CPU.

    python -m bench.refresh_floor DB_PATH MOCK_URL CLIENT_ID CLIENT_SECRET [THREADS [CLIENT]]
"""

from __future__ import annotations

import base64
import http.client
import json
import sqlite3
import sys
import threading
from urllib.parse import urlencode, urlsplit

import httpx


def seed(db_path: str, pairs: list[tuple[str, str, str]]) -> None:
    """Create the floor's table with (install, access token, refresh token) rows."""
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE tokens (install TEXT PRIMARY KEY, access TEXT, refresh TEXT)")
    conn.executemany("INSERT INTO tokens VALUES (?, ?, ?)", pairs)
    conn.commit()
    conn.close()


def main(argv: list[str]) -> int:
    """Refresh every row once; print how many."""
    db_path, mock_url, client_id, secret, *rest = argv
    threads = int(rest[0]) if rest else 1
    client = rest[1] if len(rest) > 1 else "httpx"
    if client not in ("httpx", "stdlib"):
        raise SystemExit(f"CLIENT must be httpx or stdlib, not {client!r}")
    listing = _connect(db_path)
    rows = iter(listing.execute("SELECT install, refresh FROM tokens ORDER BY install").fetchall())
    listing.close()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    stdlib_headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
    take = threading.Lock()
    done = [0] * threads
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=mock_url, auth=(client_id, secret), timeout=30, limits=limits) as http:

        def work(slot: int) -> None:
            conn = _connect(db_path)
            stdlib = _stdlib_connection(mock_url) if client == "stdlib" else None
            while True:
                with take:
                    row = next(rows, None)
                if row is None:
                    break
                install, refresh = row
                form = {"grant_type": "refresh_token", "refresh_token": refresh}
                if stdlib is None:
                    answer = http.post("/oauth2/token", data=form).json()
                else:
                    stdlib.request("POST", "/oauth2/token", urlencode(form), stdlib_headers)
                    answer = json.loads(stdlib.getresponse().read())
                conn.execute(  # autocommit: one durable transaction per pair
                    "UPDATE tokens SET access = ?, refresh = ? WHERE install = ?",
                    (answer["access_token"], answer["refresh_token"], install),
                )
                done[slot] += 1
            conn.close()
            if stdlib is not None:
                stdlib.close()

        if threads == 1:
            work(0)  # no thread at all: the plain loop
        else:
            workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
    print(f"refreshed {sum(done)}")
    return 0


def _stdlib_connection(mock_url: str) -> http.client.HTTPConnection:
    """A thread's own kept connection to the mock, for CLIENT ``stdlib``."""
    url = urlsplit(mock_url)
    return http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)


def _connect(db_path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
