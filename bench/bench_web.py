"""Issue 4 benchmark: the web helper's status page and paste endpoint, 1 install vs 1,000.

Two helper processes run side by side under uvicorn (uvloop, httptools, one worker), each on
its own SQLite store holding N connected installs (N = 1 and N = 1,000). wrk spreads requests
over all N installs by Host header (``site-<i>.bench``), each with its own session cookie and
valid CSRF token. Runs alternate; the ratio of median requests per second is the per-request
time with 1,000 installs over that with one (target <= 1.2).

- status: ``GET /`` for a connected install (store read, render);
- paste: ``POST /code`` with a valid CSRF token and a signed attempt reference whose attempt
  is not in the store: host check, form, CSRF, attempt reference, rate limiter, paste parser
  and the store's single-use take, stopping before the provider.

Every answer is checked, not just counted: the status page must be 200 and name the install's
account, the paste must be the 409 "attempt already used" page; anything else (and any socket
error) is reported as an error and makes the run exit non-zero.

    .venv/bin/python -m bench.bench_web [--seconds 6] [--rounds 3] [--installs 1000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path

from bench._harness import compile_packages, median, run_wrk, uvicorn_server

SECRET = "bench-web-secret-" + "s" * 32
STORE_ENV = "BENCH_WEB_STORE"

LUA = r"""
local entries = {}
local i = 0
local mode = os.getenv("BENCH_WEB_MODE")
local expected_status = tonumber(os.getenv("BENCH_WEB_STATUS"))
local expected_text = os.getenv("BENCH_WEB_TEXT")
local threads = {}
unexpected = 0

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(os.getenv("BENCH_WEB_DATA")) do
    local host, session, body = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)")
    table.insert(entries, {host, session, body})
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(#entries)
end

request = function()
  i = i % #entries + 1
  local e = entries[i]
  local headers = {Host = e[1], Cookie = "oob_helper_session=" .. e[2]}
  if mode == "paste" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", "/code", headers, e[3])
  end
  return wrk.format("GET", "/", headers)
end

response = function(status, headers, body)
  if status ~= expected_status or not body:find(expected_text, 1, true) then
    unexpected = unexpected + 1
  end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("unexpected")
  end
  io.write(string.format("Unexpected answers: %d\n", total))
end
"""


def expected_answer(mode: str) -> dict[str, str]:
    """wrk's environment naming the status and the text every answer of ``mode`` must have."""
    import html  # noqa: PLC0415

    from oob_helper.errors import AttemptNotFound  # noqa: PLC0415
    from oob_helper.web.problems import facade_problem  # noqa: PLC0415

    if mode == "status":
        # A connected install's page names its account (see prepare).
        return {"BENCH_WEB_STATUS": "200", "BENCH_WEB_TEXT": "Bench Company "}
    page = facade_problem(AttemptNotFound("bench"), "AWeber")
    return {"BENCH_WEB_STATUS": str(page.status_code), "BENCH_WEB_TEXT": html.escape(page.title)}


def make_app() -> object:
    """uvicorn factory: the web helper over the SQLite store named by ``BENCH_WEB_STORE``."""
    from oob_helper.config import Settings  # noqa: PLC0415
    from oob_helper.helper import OAuthHelper  # noqa: PLC0415
    from oob_helper.providers import AWEBER  # noqa: PLC0415
    from oob_helper.stores import open_store  # noqa: PLC0415
    from oob_helper.web import create_app  # noqa: PLC0415

    # The provider is never called: nothing here reaches the exchange.
    provider = AWEBER.with_bases("http://127.0.0.1:9", "http://127.0.0.1:9/1.0")
    settings = Settings(provider=provider, client_id="bench", store_url=os.environ[STORE_ENV])
    helper = OAuthHelper(settings, open_store(settings.store_url, encryption_keys=()))
    return create_app(helper, secret_key=SECRET, allowed_hosts=["*.bench"], rate_limit=10**9)


def prepare(directory: Path, installs: int) -> tuple[str, Path]:
    """A store with ``installs`` connected installs, and wrk's per-install request data."""
    from urllib.parse import urlencode  # noqa: PLC0415

    from oob_helper.stores import open_store  # noqa: PLC0415
    from oob_helper.tokens import InstallRecord, Token  # noqa: PLC0415
    from oob_helper.web.csrf import Signer  # noqa: PLC0415

    url = "sqlite:///" + str(directory / f"store-{installs}.db")
    store = open_store(url, encryption_keys=())
    signer = Signer(SECRET)
    lines = []
    try:
        for i in range(installs):
            host = f"site-{i}.bench"
            token = Token(
                access_token=secrets.token_urlsafe(24),
                refresh_token=secrets.token_urlsafe(24),
                expires_at=4_000_000_000.0,
                scopes=("account.read", "list.read", "subscriber.read"),
                obtained_at=1_900_000_000.0,
            )
            record = InstallRecord(
                install=host,
                token=token,
                state="connected",
                account_id=str(1000 + i),
                account_name=f"Bench Company {i}",
            )
            store.put(record, expected_version=None)
            session = secrets.token_urlsafe(24)
            body = urlencode(
                {
                    "csrf_token": signer.csrf_token(host, session),
                    "attempt": signer.attempt_ref(secrets.token_urlsafe(24), host, session),
                    "code": "benchcode" + secrets.token_hex(8),
                }
            )
            lines.append(f"{host}\t{session}\t{body}")
    finally:
        store.close()
    data = directory / f"requests-{installs}.tsv"
    data.write_text("\n".join(lines) + "\n")
    return url, data


def run(
    seconds: int, rounds: int, installs: int, modes: tuple[str, ...] = ("status", "paste")
) -> dict[str, float]:
    """Alternate wrk runs against both helpers for both endpoints; print ratios of medians."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        directory = Path(tmp)
        script = directory / "web.lua"
        script.write_text(LUA)
        one_store, one_data = prepare(directory, 1)
        many_store, many_data = prepare(directory, installs)
        with (
            uvicorn_server("bench.bench_web:make_app", env={STORE_ENV: one_store}) as (one_url, _),
            uvicorn_server("bench.bench_web:make_app", env={STORE_ENV: many_store}) as (many_url, _),
        ):
            for mode in modes:
                rps: dict[str, list[float]] = {"one": [], "many": []}
                unexpected = 0
                targets = (("one", one_url, one_data), ("many", many_url, many_data))
                for _name, url, data in targets:  # warm-up, not counted
                    env = {"BENCH_WEB_MODE": mode, "BENCH_WEB_DATA": str(data), **expected_answer(mode)}
                    run_wrk(url, script, threads=1, connections=16, seconds=2, env=env)
                for round_number in range(rounds):
                    # Alternate who goes first, so drift in the machine's load hits both alike.
                    order = targets if round_number % 2 == 0 else targets[::-1]
                    for name, url, data in order:
                        env = {"BENCH_WEB_MODE": mode, "BENCH_WEB_DATA": str(data), **expected_answer(mode)}
                        # wrk takes whole seconds only.
                        result = run_wrk(
                            url, script, threads=1, connections=16, seconds=int(seconds), env=env
                        )
                        rps[name].append(result.requests_per_second)
                        unexpected += result.socket_errors + result.unexpected
                one, many = median(rps["one"]), median(rps["many"])
                ratio = one / many
                print(
                    f"web {mode}: 1 install {one:,.0f} req/s ({1000 / one:.2f} ms/req), "
                    f"{installs:,} installs {many:,.0f} req/s ({1000 / many:.2f} ms/req); "
                    f"time ratio {ratio:.2f} (target <= 1.20); errors {unexpected}"
                )
                results[f"{mode}_one_rps"] = one
                results[f"{mode}_many_rps"] = many
                results[f"{mode}_ratio"] = ratio
                results[f"{mode}_errors"] = unexpected
    return results


def main() -> None:
    """Run the benchmark and print its ratios."""
    compile_packages()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--installs", type=int, default=1000)
    parser.add_argument("--only", choices=["status", "paste"], help="run one endpoint only")
    args = parser.parse_args()
    modes = (args.only,) if args.only else ("status", "paste")
    results = run(args.seconds, args.rounds, args.installs, modes)
    errors = {name: count for name, count in results.items() if name.endswith("_errors") and count}
    if errors:
        raise SystemExit(f"bench_web: answers other than the expected ones: {errors}")


if __name__ == "__main__":
    main()
