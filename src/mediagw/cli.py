"""``mediagw serve <service>`` — run one service (or the all-in-one gateway) under uvicorn.

Settings are validated here, before uvicorn starts, so a missing or weak variable stops the
process at once with one line naming it (exit code 2) instead of a traceback from a worker.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import click
from pydantic_settings import BaseSettings

from mediagw.common.settings import ConfigError, load_settings

SERVICES: dict[str, tuple[str, str]] = {
    "gateway": ("mediagw.gateway.app:create_app", "mediagw.gateway.settings:GatewaySettings"),
    "auth": ("mediagw.auth.app:create_app", "mediagw.auth.settings:AuthSettings"),
    "sona": ("mediagw.sona.app:create_app", "mediagw.sona.settings:SonaSettings"),
    "discovery": (
        "mediagw.discovery.app:create_app",
        "mediagw.discovery.settings:DiscoverySettings",
    ),
    "sync": ("mediagw.sync.app:create_app", "mediagw.sync.settings:SyncSettings"),
    "ingestion": (
        "mediagw.ingestion.app:create_app",
        "mediagw.ingestion.settings:IngestionSettings",
    ),
    "playback": ("mediagw.playback.app:create_app", "mediagw.playback.settings:PlaybackSettings"),
}
DEFAULT_PORTS = {
    "gateway": 8080, "discovery": 8081, "sona": 8082, "sync": 8083, "auth": 8084, "ingestion": 8085,
    "playback": 8086,
}  # fmt: skip


def _settings_class(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    settings_class: type[BaseSettings] = getattr(__import__(module, fromlist=[name]), name)
    return settings_class


@click.group()
def main() -> None:
    """Media Gateway reference services."""


def _start_loading_embedder(service: str, settings: BaseSettings) -> None:
    """Load the embedding model (≈ 5 s) while uvicorn imports and starts the app.

    The services that embed get this same instance from ``get_embedder`` (it waits for this
    load to finish, so readiness still means "model loaded"). One process only: with several
    workers every worker loads its own.
    """
    if service == "gateway":  # all-in-one mounts discovery and ingestion, with their settings
        if getattr(settings, "gateway_mode", None) != "all-in-one":
            return
        try:
            settings = load_settings(_settings_class(SERVICES["discovery"][1]))
        except ConfigError:
            return  # the app's own start-up names the variable
    name = getattr(settings, "embedder", None)
    if name is None:
        return
    cache_dir = getattr(settings, "embedding_cache_dir", None)
    from mediagw.common.embedding import get_embedder  # noqa: PLC0415 — the serving path only

    def load() -> None:
        with contextlib.suppress(Exception):  # the service's own call raises it again, named
            get_embedder(name, cache_dir)

    threading.Thread(target=load, name="embedder-load", daemon=True).start()


@main.command()
@click.argument("service", type=click.Choice(sorted(SERVICES)))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, help="Default: the service's port from SYSTEM.md.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes serving the port.  [default: one per core]",
)
@click.option("--log-level", default="warning", show_default=True)
def serve(service: str, host: str, port: int | None, workers: int | None, log_level: str) -> None:
    """Run SERVICE (gateway = all-in-one unless MG_GATEWAY_MODE=per-service)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    factory, settings_path = SERVICES[service]
    try:
        settings = load_settings(_settings_class(settings_path))
    except ConfigError as exc:
        click.echo(f"{service}: {exc}", err=True)
        sys.exit(2)
    workers = workers or os.cpu_count() or 1
    os.environ["MG_SERVE_WORKERS"] = str(workers)  # each worker's share of the cores
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # One /metrics for every worker: prometheus_client sums their files in this directory.
        metrics_dir = tempfile.mkdtemp(prefix="mediagw-metrics-")
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if workers == 1:
        _start_loading_embedder(service, settings)
    import uvicorn  # noqa: PLC0415 — only the serving path needs it

    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port or DEFAULT_PORTS[service],
        workers=workers,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


# --- contracts: OpenAPI documents and event schemas (committed under contracts/) -------------


@main.group()
def openapi() -> None:
    """The services' OpenAPI documents."""


@openapi.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("contracts/openapi"),
    show_default=True,
    help="Directory for <service>.json.",
)
@click.argument("services", nargs=-1)
def openapi_export(out: Path, services: tuple[str, ...]) -> None:
    """Write <out>/<service>.json for SERVICES (default: every service and the gateway)."""
    from mediagw import openapi_export as exporter  # noqa: PLC0415 — builds every app

    unknown = sorted(set(services) - set(exporter.DOCUMENTS))
    if unknown:
        raise click.BadParameter(f"unknown service(s): {', '.join(unknown)}", param_hint="SERVICES")
    for path in exporter.write(out, services or exporter.DOCUMENTS):
        click.echo(str(path))


@main.group()
def events() -> None:
    """The Kafka event contracts."""


@events.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("contracts/events"),
    show_default=True,
    help="Directory for <topic>.schema.json.",
)
def events_export(out: Path) -> None:
    """Write <out>/<topic>.schema.json: the event envelope with each topic's payload."""
    from mediagw import openapi_export as exporter  # noqa: PLC0415 — builds every app

    for path in exporter.write_events(out):
        click.echo(str(path))


@main.group()
def metrics() -> None:
    """The services' Prometheus metrics."""


@metrics.command("catalogue")
@click.option("--write", is_flag=True, help="Write alerting/metrics.md instead of printing it.")
def metrics_catalogue(write: bool) -> None:
    """Every metric the services declare: name, type, labels, module, buckets, help."""
    from mediagw.common import catalogue  # noqa: PLC0415 — imports every service's metrics

    text = catalogue.render(catalogue.collect())
    if write:
        catalogue.CATALOGUE_FILE.parent.mkdir(parents=True, exist_ok=True)
        catalogue.CATALOGUE_FILE.write_text(text, encoding="utf-8")
        click.echo(str(catalogue.CATALOGUE_FILE))
    else:
        click.echo(text, nl=False)


if __name__ == "__main__":
    main()
