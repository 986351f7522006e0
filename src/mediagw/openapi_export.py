"""The OpenAPI document of every service and the JSON Schema of every event topic.

``mediagw openapi export`` writes them to ``contracts/``, where they are committed as the
contract snapshots the harness compares against. Apps are built with placeholder settings
(URLs that are never connected: ``app.openapi()`` runs no lifespan) and a random signing key.
"""

from __future__ import annotations

import copy
import importlib
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


_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    # service: (settings class in mediagw.<service>.settings, settings beyond the placeholders)
    "auth": (
        "AuthSettings",
        {"email_outbox_dir": Path(tempfile.gettempdir()) / "mediagw-openapi-export-outbox"},
    ),
    "discovery": ("DiscoverySettings", {"embedder": "hashing"}),
    "sona": ("SonaSettings", {}),
    "sync": ("SyncSettings", {}),
    "playback": ("PlaybackSettings", {}),
    "ingestion": ("IngestionSettings", {"kafka_bootstrap": "127.0.0.1:1", "embedder": "hashing"}),
    "gateway": ("GatewaySettings", {}),
}


def _app(service: str) -> FastAPI:
    """Build ``service``'s app without connecting to anything (imported only when asked for,
    so an unknown name fails before anything heavy loads)."""
    if service not in _SETTINGS:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(DOCUMENTS)}")
    settings_class, extra = _SETTINGS[service]
    settings_module = importlib.import_module(f"mediagw.{service}.settings")
    settings = getattr(settings_module, settings_class)(
        **_PLACEHOLDERS, JWT_SECRET=secrets.token_urlsafe(48), **extra
    )
    app: FastAPI = importlib.import_module(f"mediagw.{service}.app").create_app(settings)
    return app


def document(service: str) -> dict[str, Any]:
    """``service``'s OpenAPI document, as its running app serves it."""
    return documents((service,))[service]


def documents(names: tuple[str, ...] = DOCUMENTS) -> dict[str, dict[str, Any]]:
    """The committed OpenAPI documents of ``names`` (services and the gateway), each app built
    once: the gateway's is its own merged with every service's, as the all-in-one gateway
    serves it."""
    unknown = sorted(set(names) - set(DOCUMENTS))
    if unknown:
        raise ValueError(f"unknown document(s) {unknown}; expected some of {', '.join(DOCUMENTS)}")
    wanted = SERVICES if "gateway" in names else tuple(n for n in SERVICES if n in names)
    built = {service: copy.deepcopy(_app(service).openapi()) for service in wanted}
    if "gateway" in names:
        from mediagw.gateway.openapi import merge  # noqa: PLC0415 — only for the gateway

        # Before start-up the gateway mounts no service: its own, unmerged document.
        built["gateway"] = merge(_app("gateway").openapi(), built)
    return {name: built[name] for name in names}


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
    for service, generated in documents(services).items():
        path = out / f"{service}.json"
        path.write_text(dump(generated), encoding="utf-8")
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
