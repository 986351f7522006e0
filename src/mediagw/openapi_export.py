"""The OpenAPI document of every service and the JSON Schema of every event topic.

``mediagw openapi export`` writes them to ``contracts/``, where they are committed as the
contract snapshots the harness compares against. Apps are built with placeholder settings
(URLs that are never connected: ``app.openapi()`` runs no lifespan) and a random signing key.
"""

from __future__ import annotations

import copy
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from mediagw.common.events import PAYLOADS, TOPICS, Event

SERVICES = ("auth", "discovery", "sona", "sync", "playback", "ingestion")
DOCUMENTS = (*SERVICES, "gateway")
"""Every committed document: one per service, and the gateway's merge of their public API."""

_PLACEHOLDERS: dict[str, Any] = {
    "env": "test",
    "postgres_url": "postgresql://contracts@127.0.0.1:1/contracts",
    "redis_url": "redis://127.0.0.1:1/0",
}


def _app(service: str) -> FastAPI:
    """Build ``service``'s app without connecting to anything."""
    common = {**_PLACEHOLDERS, "JWT_SECRET": secrets.token_urlsafe(48)}
    # Imports are per service so an unknown name fails before anything heavy loads.
    if service == "auth":
        from mediagw.auth.app import create_app as auth_app  # noqa: PLC0415
        from mediagw.auth.settings import AuthSettings  # noqa: PLC0415

        outbox = Path(tempfile.gettempdir()) / "mediagw-openapi-export-outbox"
        return auth_app(AuthSettings(**common, email_outbox_dir=outbox))
    if service == "discovery":
        from mediagw.discovery.app import create_app as discovery_app  # noqa: PLC0415
        from mediagw.discovery.settings import DiscoverySettings  # noqa: PLC0415

        return discovery_app(DiscoverySettings(**common, embedder="hashing"))
    if service == "sona":
        from mediagw.sona.app import create_app as sona_app  # noqa: PLC0415
        from mediagw.sona.settings import SonaSettings  # noqa: PLC0415

        return sona_app(SonaSettings(**common))
    if service == "sync":
        from mediagw.sync.app import create_app as sync_app  # noqa: PLC0415
        from mediagw.sync.settings import SyncSettings  # noqa: PLC0415

        return sync_app(SyncSettings(**common))
    if service == "playback":
        from mediagw.playback.app import create_app as playback_app  # noqa: PLC0415
        from mediagw.playback.settings import PlaybackSettings  # noqa: PLC0415

        return playback_app(PlaybackSettings(**common))
    if service == "ingestion":
        from mediagw.ingestion.app import create_app as ingestion_app  # noqa: PLC0415
        from mediagw.ingestion.settings import IngestionSettings  # noqa: PLC0415

        return ingestion_app(
            IngestionSettings(**common, kafka_bootstrap="127.0.0.1:1", embedder="hashing")
        )
    raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")


def _gateway_document() -> dict[str, Any]:
    """What the all-in-one gateway serves: its own document merged with every service's."""
    from mediagw.gateway.app import create_app as gateway_app  # noqa: PLC0415
    from mediagw.gateway.openapi import merge  # noqa: PLC0415
    from mediagw.gateway.settings import GatewaySettings  # noqa: PLC0415

    placeholders: dict[str, Any] = {
        "env": "test",
        "redis_url": _PLACEHOLDERS["redis_url"],
        "JWT_SECRET": secrets.token_urlsafe(48),
    }
    settings = GatewaySettings(**placeholders)
    # The unmerged own document: before start-up the gateway mounts no service.
    own = gateway_app(settings).openapi()
    return merge(own, {service: document(service) for service in SERVICES})


def document(service: str) -> dict[str, Any]:
    """``service``'s OpenAPI document, as its running app serves it."""
    if service == "gateway":
        return _gateway_document()
    return copy.deepcopy(_app(service).openapi())


def documents() -> dict[str, dict[str, Any]]:
    """Every committed OpenAPI document, by name (the services' and the gateway's)."""
    return {name: document(name) for name in DOCUMENTS}


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")


def event_schemas() -> dict[str, dict[str, Any]]:
    """Per topic: the JSON Schema of the event envelope with that topic's payload inside."""
    schemas: dict[str, dict[str, Any]] = {}
    envelope = Event.model_json_schema(mode="validation")
    for topic in TOPICS:
        payload = _schema_of(PAYLOADS[topic])
        schema = copy.deepcopy(envelope)
        defs = payload.pop("$defs", {})
        properties = schema["properties"]
        properties["type"] = {"const": topic, "title": "Type", "type": "string"}
        properties["payload"] = payload
        # Producers always write every envelope field (defaults included): require them all.
        schema["required"] = list(properties)
        if defs:
            schema["$defs"] = {**schema.get("$defs", {}), **defs}
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://media-gateway.invalid/contracts/events/{topic}.schema.json"
        schema["title"] = f"{topic} event"
        schemas[topic] = schema
    return schemas


def dump(document: dict[str, Any]) -> str:
    """The committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(out: Path, services: tuple[str, ...] = DOCUMENTS) -> list[Path]:
    """Write ``<out>/<service>.json`` for each service; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for service in services:
        path = out / f"{service}.json"
        path.write_text(dump(document(service)), encoding="utf-8")
        written.append(path)
    return written


def write_events(out: Path) -> list[Path]:
    """Write ``<out>/<topic>.schema.json`` for each topic; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for topic, schema in event_schemas().items():
        path = out / f"{topic}.schema.json"
        path.write_text(dump(schema), encoding="utf-8")
        written.append(path)
    return written
