"""``oob-helper demo``: the mock AWeber server and the web helper together on loopback.

The helper uses the mock's public demo client and a SQLite store in a temporary directory that
is removed on exit. Ctrl-C (exit 130) or SIGTERM (exit 143) stops both. Also
``python -m oob_helper.demo``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

DEMO_CLIENT_ID = "demo-public"
DEMO_LOGIN = ("demo", "demo")


def run_demo(*, host: str = "127.0.0.1", helper_port: int = 8000, mock_port: int = 8081) -> int:
    """Start the mock and the helper (port 0 = any free port), print both URLs, serve until stopped."""
    from mock_server.runner import MockServer  # noqa: PLC0415 - the demo alone needs the mock
    from oob_helper.config import Settings  # noqa: PLC0415
    from oob_helper.errors import OobHelperError  # noqa: PLC0415
    from oob_helper.helper import OAuthHelper  # noqa: PLC0415
    from oob_helper.providers import AWEBER  # noqa: PLC0415
    from oob_helper.stores import open_store  # noqa: PLC0415
    from oob_helper.web.app import create_app  # noqa: PLC0415
    from oob_helper.web.runner import base_url, bind, run_until_stopped, stop_signals  # noqa: PLC0415

    try:
        sock = bind(host, helper_port)
    except OSError as exc:
        print(
            f"oob-helper demo: cannot listen on {host}:{helper_port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    with stop_signals() as stopping, tempfile.TemporaryDirectory(prefix="oob-helper-demo-") as tmp:
        mock = MockServer(host=host, port=mock_port)
        try:
            mock.start()
        except OSError as exc:
            sock.close()
            print(f"oob-helper demo: cannot start the mock on {host}:{mock_port}: {exc}", file=sys.stderr)
            return 2
        helper: OAuthHelper | None = None
        try:
            settings = Settings(
                provider=AWEBER.with_bases(mock.url, mock.api_base),
                client_id=DEMO_CLIENT_ID,
                store_url="sqlite:///" + str(Path(tmp) / "tokens.db"),
            )
            helper = OAuthHelper(settings, open_store(settings.store_url, encryption_keys=()))
            app = create_app(helper)
            url = base_url(host, sock.getsockname()[1])
            print("oob-helper demo: the web helper and a mock AWeber server, on this machine only.")
            print(f"  Web helper:        {url}/")
            print(f"  Mock AWeber:       {mock.url}/")
            print(f"  Mock QA dashboard: {mock.dashboard_url}")
            print(f"  Demo login:        username {DEMO_LOGIN[0]}, password {DEMO_LOGIN[1]}")
            print(
                f"Open {url}/ and click Connect to AWeber; on the mock's page sign in as demo / demo and "
                "press Allow access, then copy the code and paste it into the helper."
            )
            print("Press Ctrl-C to stop.", flush=True)
            run_until_stopped(app, sock, stopping)
        except OobHelperError as exc:
            print(f"oob-helper demo: {exc}", file=sys.stderr)
            return 2
        finally:
            sock.close()
            if helper is not None:
                helper.close()
            mock.stop()
    print("oob-helper demo: stopped.", flush=True)
    return stopping.exit_code()


def main(argv: list[str] | None = None) -> int:
    """``python -m oob_helper.demo [--host H] [--helper-port P] [--mock-port P]``."""
    parser = argparse.ArgumentParser(prog="python -m oob_helper.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--helper-port", type=int, default=8000, help="web helper port (0 = any free)")
    parser.add_argument("--mock-port", type=int, default=8081, help="mock AWeber port (0 = any free)")
    args = parser.parse_args(argv)
    return run_demo(host=args.host, helper_port=args.helper_port, mock_port=args.mock_port)


if __name__ == "__main__":
    sys.exit(main())
