"""``mgh obs``: the observability layer as a user runs it.

``up`` starts Prometheus (scraping a deployment), Alertmanager and InfluxDB with the committed
configuration; ``check`` runs every offline check in seconds; ``generate`` rewrites what is
generated from code; ``coverage`` says which alerts fired during a run.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import click
import httpx

from harness.backends import SPECS, BackendUnavailable, BackendUnhealthy, resolve
from harness.cli import _fail, _run_until_interrupted, main
from harness.obs import checks, coverage
from harness.obs.observatory import RULES_DIR, Observatory, scaled_rules, seconds_of
from harness.obs.prometheus import ScrapeTarget
from harness.service_processes import StackError
from harness.stack import launch

ROOT = Path(__file__).resolve().parents[3]
PROVISIONING = ROOT / "dashboards" / "provisioning"


rules_option = click.option(
    "--rules",
    "rule_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Alert rule files the Prometheus evaluated (default: alerting/rules/*.yml).",
)
"""The rule files of a Prometheus run (``mgh obs coverage``, ``mgh gate --prometheus``)."""


@main.group()
def obs() -> None:
    """Metrics catalogue, alert rules, Alertmanager routing, dashboards."""


@obs.command("check")
def obs_check() -> None:
    """Offline checks: promtool, amtool, dashboard lint, drift of every generated file."""
    results = checks.run_all()
    width = max(len(r.name) for r in results)
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        click.echo(f"{mark} {result.name:<{width}}  {result.seconds:5.2f} s  {result.summary}")
        if not result.ok and result.detail:
            click.echo("     " + result.detail.replace("\n", "\n     "))
    failed = [r.name for r in results if not r.ok]
    if failed:
        _fail(f"{len(failed)} of {len(results)} checks failed: {', '.join(failed)}")
    click.echo(f"all {len(results)} checks passed")


@obs.command("generate")
def obs_generate() -> None:
    """Rewrite the generated files: metrics catalogue, SLO rules and tests, dashboards."""
    for path in checks.generate_all():
        click.echo(str(path.relative_to(ROOT)))


def _targets(target: str | None, services: tuple[str, ...]) -> list[ScrapeTarget]:
    found = [ScrapeTarget(f"{target.rstrip('/')}/metrics", "all-in-one")] if target else []
    for entry in services:
        name, sep, url = entry.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{entry!r} is not <service>=<http(s) URL>")
        found.append(ScrapeTarget(f"{url.rstrip('/')}/metrics", name))
    return found


@obs.command("up")
@click.option("--target", envvar="MG_TARGET_URL", show_envvar=True, help="Gateway to scrape.")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="A per-service target, <service>=<URL> (repeatable; component label = service).",
)
@click.option("--interval", type=float, default=15.0, show_default=True, help="Scrape seconds.")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Shrink every rule window and `for` by this factor (a drill: 1/60 turns 1h into 1m).",
)
def obs_up(target: str | None, services: tuple[str, ...], interval: float, scale: float) -> None:
    """Prometheus + Alertmanager + InfluxDB on the committed configuration (and the stack
    when no target is given); prints their URLs and Grafana's provisioning; Ctrl-C stops."""
    with ExitStack() as cleanup:
        if not target and not services:
            click.echo("no --target: starting the stack (seeded) …")
            try:
                stack = cleanup.enter_context(launch(seed=True))
            except (StackError, BackendUnavailable, BackendUnhealthy) as exc:
                _fail(str(exc))
            target = stack.base_url
        scrape = _targets(target, services)
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="mgh-obs-")))
        rules = _rule_files(workdir, scale)
        try:
            influx = resolve(SPECS["influxdb"])
        except (BackendUnavailable, BackendUnhealthy) as exc:
            _fail(str(exc))
        cleanup.callback(influx.stop)
        observatory = cleanup.enter_context(Observatory(scrape, rules, interval=interval))
        prometheus, alertmanager = observatory.prometheus.url, observatory.alertmanager.url
        click.echo(f"prometheus    {prometheus}  (scraping {', '.join(t.url for t in scrape)})")
        delivery = observatory.webhook.url()
        click.echo(f"alertmanager  {alertmanager}  (every receiver delivers to {delivery})")
        click.echo(f"influxdb      {influx.url}")
        click.echo(f"rules         {', '.join(str(p) for p in rules)}")
        click.echo("\n# Grafana: provision datasources and dashboards from this clone")
        click.echo(f"export MGH_PROMETHEUS_URL={prometheus}")
        click.echo(f"export MGH_INFLUXDB_URL={influx.url.rsplit('/', 1)[0]}")
        click.echo(f"export MGH_DASHBOARDS_DIR={ROOT / 'dashboards'}")
        click.echo(f"# provisioning directory: {PROVISIONING}")
        click.echo("\nnotifications (each receiver's name; Ctrl-C stops everything):")
        seen = 0

        def report_notifications() -> None:
            nonlocal seen
            for note in observatory.webhook.notifications[seen:]:
                names = ", ".join(sorted(set(note.alertnames)))
                stamp = note.received_at.strftime("%H:%M:%S")
                click.echo(f"  {stamp} {note.receiver:<20} {note.status:<8} {names}")
            seen = len(observatory.webhook.notifications)

        _run_until_interrupted(report_notifications)


@obs.command("coverage")
@click.option("--prometheus", required=True, help="The Prometheus that evaluated the rules.")
@click.option(
    "--since",
    default="15m",
    show_default=True,
    help="The window, ending now: 90s, 15m, 2h.",
)
@rules_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "reports" / "out" / "obs",
    show_default=True,
)
def obs_coverage(prometheus: str, since: str, rule_files: tuple[Path, ...], out: Path) -> None:
    """Which alerts fired, stayed pending or quiet, or can never fire (they need a series no
    service exposes), over the last --since."""
    try:
        seconds = seconds_of(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    end = time.time()
    files = list(rule_files) or sorted(RULES_DIR.glob("*.yml"))
    try:
        report = coverage.coverage(prometheus, files, end - seconds, end)
    except httpx.HTTPError as exc:
        _fail(f"Prometheus at {prometheus}: {exc}")
    click.echo(coverage.render_console(report))
    markdown, data = coverage.write(report, end - seconds, end, out)
    click.echo(f"\n{markdown}\n{data}")


def _rule_files(workdir: Path, scale: float) -> list[Path]:
    if scale == 1.0:
        return sorted(RULES_DIR.glob("*.yml"))
    return scaled_rules(workdir, scale)
