"""``/_mock/sandboxes``: create, list and delete isolated worlds (issue 11, item 1).

Only the root world manages sandboxes (a sandbox cannot make or see others), so one test's
sandbox never learns another's id. Each answer gives the sandbox's base URL: every mock path
works under it (``<url>/oauth2/token``, ``<url>/1.0/accounts``, ``<url>/_mock/clock``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mock_server.control import BadRequest, _body, _error, _only
from mock_server.sandboxes import Sandbox, SandboxError, Sandboxes
from mock_server.world import DEFAULT_ID, PREFIX, sandbox_of


def _registry(request: Request) -> Sandboxes:
    registry: Sandboxes = request.app.state.sandboxes
    return registry


def _root_only(request: Request) -> Response | None:
    if sandbox_of(request.scope) == DEFAULT_ID:
        return None
    return _error(
        404,
        "not_found",
        "sandboxes are managed at the server's root, not inside a sandbox: "
        "use /_mock/sandboxes on the server's own base URL",
    )


def describe(request: Request, registry: Sandboxes, sandbox: Sandbox) -> dict[str, Any]:
    """The JSON view of one sandbox, with its base URL on the host the caller used."""
    root = str(request.base_url).rstrip("/")
    url = root if sandbox.is_default else f"{root}{PREFIX}{sandbox.id}"
    return {
        "id": sandbox.id,
        "url": url,
        "default": sandbox.is_default,
        "created_at": round(sandbox.created_at, 3),
        "idle_seconds": round(registry.idle_for(sandbox), 3),
        "idle_timeout": None if sandbox.is_default else registry.idle_timeout,
        "mock_time": round(sandbox.state.clock.now(), 3),
    }


async def create(request: Request) -> Response:
    """POST /_mock/sandboxes {"name": optional}: a new world; 201 with its base URL."""
    refused = _root_only(request)
    if refused is not None:
        return refused
    data = await _body(request, optional=True)
    _only(data, ("name",))
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise BadRequest("name must be a string (1-64 letters, digits, '_' or '-'), or omit it")
    registry = _registry(request)
    try:
        sandbox = registry.create(name)
    except SandboxError as exc:
        return _error(exc.status, exc.code, str(exc))
    persister = request.app.state.persister
    if persister is not None:  # serve --state: the sandbox outlives a restart from its creation on
        try:
            persister.save(sandbox.id, sandbox.state)
        except Exception as exc:
            registry.delete(sandbox.id)
            return _error(
                500, "state_not_saved", f"could not save the new sandbox to {persister.path}: {exc}"
            )
    workers = request.app.state.webhook_workers
    if workers.running:  # its webhooks go out as the default world's do
        await workers.start(sandbox.id, sandbox.state)
    return JSONResponse(describe(request, registry, sandbox), status_code=201)


async def listing(request: Request) -> Response:
    """GET /_mock/sandboxes: the default world and every live sandbox, oldest first."""
    refused = _root_only(request)
    if refused is not None:
        return refused
    registry = _registry(request)
    return JSONResponse(
        {
            "sandboxes": [describe(request, registry, s) for s in registry.list()],
            "max_sandboxes": registry.max_sandboxes,
            "idle_timeout": registry.idle_timeout,
        }
    )


async def delete(request: Request) -> Response:
    """DELETE /_mock/sandboxes/<id>: forget a sandbox and everything in it; 204."""
    refused = _root_only(request)
    if refused is not None:
        return refused
    try:
        _registry(request).delete(request.path_params["sandbox_id"])
    except SandboxError as exc:
        return _error(exc.status, exc.code, str(exc))
    return Response(status_code=204)
