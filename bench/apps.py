"""ASGI app factories the benchmarks run under uvicorn (``--factory``)."""

from __future__ import annotations

import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# The same shape and size as the mock's refresh answer (32-character tokens, as AWeber's).
_BARE_BODY = {
    "access_token": "a" * 32,
    "refresh_token": "r" * 32,
    "token_type": "bearer",
    "expires_in": 7200,
}


async def _bare_token(request: Request) -> Response:
    form = await request.form()
    if form.get("grant_type") != "refresh_token" or not form.get("refresh_token"):
        return JSONResponse({"error": "invalid_request"}, status_code=400)
    return JSONResponse(_BARE_BODY, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _ok(request: Request) -> Response:
    return Response("ok")


def bare_app() -> Starlette:
    """The baseline: a bare Starlette endpoint that parses the same form, same-size JSON."""
    return Starlette(routes=[Route("/oauth2/token", _bare_token, methods=["POST"]), Route("/", _ok)])


def mock_app() -> Starlette:
    """The mock server; ``BENCH_MOCK_CONFIG`` may hold MockConfig keyword arguments as JSON."""
    from mock_server import MockConfig, create_app  # noqa: PLC0415

    options = json.loads(os.environ.get("BENCH_MOCK_CONFIG", "{}"))
    return create_app(MockConfig(**options))


def fleet_app() -> Starlette:
    """The fleet page over the SQLite store named by ``BENCH_FLEET_STORE`` (loopback clients)."""
    from oob_helper.config import Settings  # noqa: PLC0415
    from oob_helper.helper import OAuthHelper  # noqa: PLC0415
    from oob_helper.providers import AWEBER  # noqa: PLC0415
    from oob_helper.stores import open_store  # noqa: PLC0415
    from oob_helper.web.fleet import fleet_app as make  # noqa: PLC0415

    url = os.environ["BENCH_FLEET_STORE"]
    helper = OAuthHelper(Settings(provider=AWEBER, client_id="bench", store_url=url), open_store(url))
    return make(helper)
