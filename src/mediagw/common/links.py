"""OpenAPI links: how one operation's answer feeds the next request.

Links are part of the contract: they tell a client (and the stateful fuzzer, which follows them)
that, say, the ``session_id`` of ``POST /playback/sessions`` is what the heartbeat takes. Routes
declare them through ``responses=`` (FastAPI copies the extra keys into the document), so the
links live next to the route that produces the value, and a renamed target operation breaks the
document's own tests rather than a client.

Targets are named by ``operationId`` — FastAPI's generated ones (``<function>_<path>_<method>``),
which are stable as long as the route's function, path and method are.
"""

from __future__ import annotations

from typing import Any


def link(
    operation_id: str,
    description: str,
    *,
    parameters: dict[str, str] | None = None,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One OpenAPI Link object; ``parameters`` keys may carry a location (``path.session_id``)
    and values are runtime expressions (``$response.body#/session_id``)."""
    definition: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        definition["parameters"] = parameters
    if request_body is not None:
        definition["requestBody"] = request_body
    return definition


def links(status: int, **named: dict[str, Any]) -> dict[Any, Any]:
    """A ``responses=`` entry that adds links (by name) to the ``status`` answer (typed loosely
    so it merges with ``|`` into any route's ``responses`` dict, whatever its key type)."""
    return {status: {"links": named}}
