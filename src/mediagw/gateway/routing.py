"""Which service answers which public path.

The table is the gateway's whole routing knowledge; order matters where prefixes overlap
(``/content/{id}/deep-link`` belongs to playback, the rest of ``/content`` to discovery).
What each service serves under its prefix, and which operations need a token, comes from the
service's own document (``mediagw.gateway.operations``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    name: str
    """A stable label for metrics, e.g. ``/api/v1/auth/*``."""
    pattern: re.Pattern[str]
    service: str


def _route(name: str, pattern: str, service: str) -> Route:
    return Route(name, re.compile(pattern), service)


ROUTES: tuple[Route, ...] = (
    _route("/api/v1/auth/*", r"^/api/v1/auth(/|$)", "auth"),
    _route("/api/v1/me", r"^/api/v1/me$", "auth"),
    _route("/api/v1/content/*/deep-link", r"^/api/v1/content/[^/]+/deep-link$", "playback"),
    _route("/api/v1/content/*", r"^/api/v1/(content|search|platforms|genres)(/|$)", "discovery"),
    _route("/api/v1/sona/*", r"^/api/v1/(recommendations|interactions|profile)(/|$)", "sona"),
    _route("/api/v1/playback/*", r"^/api/v1/playback(/|$)", "playback"),
    _route("/api/v1/sync/*", r"^/api/v1/(sync|watchlist|devices)(/|$)", "sync"),
    _route("/api/v1/ingestion/*", r"^/api/v1/ingestion(/|$)", "ingestion"),
)

INTERNAL = re.compile(r"^/api/v1/internal(/|$)")
"""Service-to-service endpoints: never reachable through the public entry."""


def route_for(path: str) -> Route | None:
    return next((r for r in ROUTES if r.pattern.match(path)), None)
