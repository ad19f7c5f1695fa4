"""GET /openapi.json: an OpenAPI 3 description of everything the mock serves. OWNER: API helper."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


async def openapi_endpoint(request: Request) -> JSONResponse:
    """The OpenAPI document, with the server URL of this request."""
    return JSONResponse({"openapi": "3.0.3", "info": {"title": "mock-aweber", "version": "0"}, "paths": {}})
