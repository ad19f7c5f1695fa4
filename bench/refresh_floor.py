"""The floor ``refresh --all`` is measured against: the same durable work, no helper logic.

One keep-alive httpx client sends each install's refresh grant in turn and commits the new pair
to SQLite (``synchronous=FULL``, one transaction per refresh) before the next; nothing else
(no lock, no compare-and-set, no retries, no record shape). Run as a subprocess by
bench_refresh_all, so its CPU time is counted like the CLI's. With THREADS, that many threads
share the client (one kept connection each) and take the rows in turn, each committing on a
connection of its own: the floor of the delayed runs, which need as many requests in flight.

    python -m bench.refresh_floor DB_PATH MOCK_URL CLIENT_ID CLIENT_SECRET [THREADS]
"""

from __future__ import annotations

import sqlite3
import sys
import threading

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
    listing = _connect(db_path)
    rows = iter(listing.execute("SELECT install, refresh FROM tokens ORDER BY install").fetchall())
    listing.close()
    take = threading.Lock()
    done = [0] * threads
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=mock_url, auth=(client_id, secret), timeout=30, limits=limits) as http:

        def work(slot: int) -> None:
            conn = _connect(db_path)
            while True:
                with take:
                    row = next(rows, None)
                if row is None:
                    break
                install, refresh = row
                answer = http.post(
                    "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
                ).json()
                conn.execute(  # autocommit: one durable transaction per pair
                    "UPDATE tokens SET access = ?, refresh = ? WHERE install = ?",
                    (answer["access_token"], answer["refresh_token"], install),
                )
                done[slot] += 1
            conn.close()

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


def _connect(db_path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
