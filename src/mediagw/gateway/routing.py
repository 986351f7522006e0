"""Which service answers which public path, and which paths need no token.

The table is the gateway's whole routing knowledge; order matters where prefixes overlap
(``/content/{id}/deep-link`` belongs to playback, the rest of ``/content`` to discovery).
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

PUBLIC: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = tuple(
    (frozenset(methods), re.compile(pattern))
    for methods, pattern in (
        (
            {"POST"},
            r"^/api/v1/auth/(register|verify-email|login|mfa/verify|token|device/code"
            r"|password/forgot|password/reset|api-keys/exchange)$",
        ),
        ({"GET"}, r"^/api/v1/auth/\.well-known/jwks\.json$"),
        ({"GET"}, r"^/api/v1/(content|search|platforms|genres)(/|$)"),
        ({"POST"}, r"^/api/v1/search/semantic$"),
    )
)
"""Paths anyone may call without a token (a token, if sent, must still be valid)."""

INTERNAL = re.compile(r"^/api/v1/internal(/|$)")
"""Service-to-service endpoints: never reachable through the public entry."""


def route_for(path: str) -> Route | None:
    return next((r for r in ROUTES if r.pattern.match(path)), None)


def is_public(method: str, path: str) -> bool:
    if method == "OPTIONS":
        return True
    return any(method in methods and pattern.match(path) for methods, pattern in PUBLIC)
