"""The gateway's document: the public API of every service behind it, as one OpenAPI 3.1 file.

A client of the gateway sees one API, so it gets one document: the gateway's own operations
(health) plus every public ``/api/v1`` operation of the services (never the internal,
service-to-service ones, which the gateway does not serve), with their components merged (names
are unique across services; a clash with a different schema is refused, not overwritten). On top
of the services' own links it declares the journeys that cross services — a search result opens
a playback session, a recommendation goes on the watchlist — which no single service's document
can, since a link names its target by ``operationId`` inside one document.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mediagw.common.links import link
from mediagw.gateway.routing import INTERNAL

START_SESSION = "start_session_api_v1_playback_sessions_post"
DEEP_LINK = "get_deep_link_api_v1_content__content_id__deep_link_get"
ADD_TO_WATCHLIST = "add_to_watchlist_api_v1_watchlist__content_id__put"


def _watch(content_id: str) -> dict[str, dict[str, Any]]:
    """The links every "here is a title" answer gets: play it, open it, keep it for later."""
    return {
        "play": link(
            START_SESSION, "Start watching the title", request_body={"content_id": content_id}
        ),
        "open": link(
            DEEP_LINK,
            "Where to open the title on this device",
            parameters={"path.content_id": content_id},
        ),
        "keep": link(
            ADD_TO_WATCHLIST,
            "Put the title on the watchlist",
            parameters={"path.content_id": content_id},
        ),
    }


# (path, method, status) → links to add there.
JOURNEYS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    ("/api/v1/search", "get", "200"): _watch("$response.body#/items/0/id"),
    ("/api/v1/search/semantic", "post", "200"): _watch("$response.body#/items/0/id"),
    ("/api/v1/content/{content_id}", "get", "200"): _watch("$request.path.content_id"),
    ("/api/v1/recommendations", "get", "200"): _watch("$response.body#/items/0/content_id"),
    ("/api/v1/devices", "post", "201"): {
        "play_here": link(
            START_SESSION,
            "Start watching on the device just registered",
            request_body={"device_id": "$response.body#/device_key"},
        )
    },
}


class MergeConflict(ValueError):
    """Two services define the same path or component name differently."""


def merge(own: Mapping[str, Any], services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The gateway's document from its ``own`` and the ``services``' documents (by name)."""
    document = copy.deepcopy(dict(own))
    paths: dict[str, Any] = document.setdefault("paths", {})
    components: dict[str, Any] = document.setdefault("components", {})
    tags = {tag["name"]: tag for tag in document.get("tags", [])}
    for name, service in services.items():
        for path, item in service.get("paths", {}).items():
            if not path.startswith("/api/") or INTERNAL.match(path):
                continue  # health, metrics and service-to-service calls stay behind the gateway
            if path in paths and paths[path] != item:
                raise MergeConflict(f"{name} redefines path {path}")
            paths[path] = copy.deepcopy(item)
        for section, entries in service.get("components", {}).items():
            merged = components.setdefault(section, {})
            for key, value in entries.items():
                if key in merged and merged[key] != value:
                    raise MergeConflict(f"{name} redefines components.{section}.{key}")
                merged[key] = copy.deepcopy(value)
        for tag in service.get("tags", []):
            tags.setdefault(tag["name"], tag)
    for (path, method, status), extra in JOURNEYS.items():
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue  # that service is not behind this gateway
        response = operation["responses"][status]
        response.setdefault("links", {}).update(copy.deepcopy(extra))
    if tags:
        document["tags"] = list(tags.values())
    document["paths"] = dict(sorted(paths.items()))
    return document
