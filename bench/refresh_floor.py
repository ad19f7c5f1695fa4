"""The floor ``refresh --all`` is measured against: the same durable work, no helper logic.

One keep-alive httpx client sends each install's refresh grant in turn and commits the new pair
to SQLite (``synchronous=FULL``, one transaction per refresh) before the next; nothing else
(no lock, no compare-and-set, no retries, no record shape). Run as a subprocess by
bench_refresh_all, so its CPU time is counted like the CLI's:

    python -m bench.refresh_floor DB_PATH MOCK_URL CLIENT_ID CLIENT_SECRET
"""

from __future__ import annotations

import sqlite3
import sys

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
    db_path, mock_url, client_id, secret = argv
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    rows = conn.execute("SELECT install, refresh FROM tokens ORDER BY install").fetchall()
    done = 0
    with httpx.Client(base_url=mock_url, auth=(client_id, secret), timeout=30) as http:
        for install, refresh in rows:
            answer = http.post(
                "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
            ).json()
            conn.execute(  # autocommit: one durable transaction per pair
                "UPDATE tokens SET access = ?, refresh = ? WHERE install = ?",
                (answer["access_token"], answer["refresh_token"], install),
            )
            done += 1
    conn.close()
    print(f"refreshed {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
