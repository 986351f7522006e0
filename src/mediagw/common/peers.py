"""How one service calls another: over HTTP by URL, or in-process when mounted together.

In all-in-one mode the gateway registers every mounted app here; a service asking for a peer
without a URL configured gets a client whose transport calls that app directly (same HTTP
semantics, same contract, no socket). With a URL (per-service mode) it is plain HTTP.
"""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp

_mounted: dict[str, ASGIApp] = {}


def register(name: str, app: ASGIApp) -> None:
    _mounted[name] = app


def unregister(name: str) -> None:
    _mounted.pop(name, None)


def peer_client(name: str, url: str | None, timeout: float = 5.0) -> httpx.AsyncClient:
    """A client for peer service ``name``; raises LookupError if it is neither configured nor
    mounted in this process."""
    if url:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        return httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout, limits=limits)
    app = _mounted.get(name)
    if app is None:
        raise LookupError(
            f"{name} is neither configured (MG_{name.upper()}_URL) nor mounted in this process"
        )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{name}.in-process",
        timeout=timeout,
    )
