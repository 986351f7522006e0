"""The metrics catalogue against the code that declares it and the processes that expose it.

Dashboards and alerts name metrics by string, so the catalogue (``alerting/metrics.md``) is the
contract: it must equal what the services declare, every service must expose what it declares
with exactly the catalogued labels, and no label may carry an unbounded value (a raw path, an
id, a token, an e-mail) — the mistake that turns one metric into millions of series.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.accounts import Account, expect
from harness.obs import catalogue as harness_catalogue
from harness.services import DirectServices
from harness.stack import Stack
from mediagw.common import catalogue

pytestmark = pytest.mark.integration

UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
LONG_HEX = re.compile(r"[0-9a-fA-F]{24,}")
ROUTE = re.compile(r"^(/[A-Za-z0-9_.{}*-]*)+$|^<unmatched>$")

SERVICE_OF_PREFIX = (
    ("/api/v1/auth", "auth"),
    ("/api/v1/search", "discovery"),
    ("/api/v1/content", "discovery"),
    ("/api/v1/recommendations", "sona"),
    ("/api/v1/playback", "playback"),
    ("/api/v1/watchlist", "sync"),
    ("/api/v1/no-such-thing", "discovery"),
)

MUST_HAVE_SAMPLES: dict[str, tuple[str, ...]] = {
    "auth": ("auth_logins_total", "auth_tokens_issued_total", "auth_token_refreshes_total"),
    "discovery": ("search_stage_duration_seconds", "search_cache_total"),
    "sona": ("sona_recommendations_duration_seconds",),
    "playback": ("playback_sessions_started_total", "playback_heartbeats_total"),
    "sync": (),  # its domain series count WebSocket traffic, which the sync suites drive
    "ingestion": (),
}
"""Domain series the short load below must produce on each service (beside the RED, readiness
and pool series every service must show)."""

USES_POSTGRES = ("auth", "discovery", "sona", "playback", "sync", "ingestion")


def test_the_committed_catalogue_equals_what_the_services_declare() -> None:
    expected = catalogue.render(catalogue.collect())
    committed = catalogue.CATALOGUE_FILE.read_text(encoding="utf-8")
    assert committed == expected, (
        "alerting/metrics.md drifted: run `mediagw metrics catalogue --write`"
    )
    parsed = harness_catalogue.parse(committed)
    assert parsed["http_requests_total"].labels == ("service", "route", "method", "status")
    assert parsed["sync_propagation_seconds"].sample_names()[0] == "sync_propagation_seconds_bucket"


def _short_load(client: httpx.Client, base_for: Callable[[str], str], user: Account) -> None:
    """A signed-in viewer's journey, each call sent where ``base_for(path)`` says."""

    def call(method: str, path: str, status: int, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {user.access_token}"}
        response = client.request(method, base_for(path) + path, headers=headers, **kwargs)  # type: ignore[arg-type]  # httpx's request kwargs are a union per key
        return expect(response, status)

    signed_in = client.post(
        base_for("/api/v1/auth") + "/api/v1/auth/login",
        json={"email": user.email, "password": user.password, "device_id": "metrics-tv"},
    )
    user.remember(expect(signed_in, 200).json())
    found = call("GET", "/api/v1/search", 200, params={"q": "space adventure"}).json()["items"]
    title = found[0]["id"]
    call("GET", f"/api/v1/content/{title}", 200)
    call("GET", f"/api/v1/content/{uuid.uuid4()}", 404)  # an id no title has: still one route
    call("GET", "/api/v1/recommendations", 200)
    session = call(
        "POST",
        "/api/v1/playback/sessions",
        201,
        json={"content_id": title, "device_id": "metrics-tv", "duration_seconds": 3600},
    ).json()["session_id"]
    beat = {"position_seconds": 30, "state": "playing"}
    call("POST", f"/api/v1/playback/sessions/{session}/heartbeat", 200, json=beat)
    call("POST", f"/api/v1/playback/sessions/{session}/stop", 200, json={"position_seconds": 60})
    call("PUT", f"/api/v1/watchlist/{title}", 200)
    call("DELETE", f"/api/v1/watchlist/{title}", 200)
    call("GET", f"/api/v1/no-such-thing/{uuid.uuid4()}", 404)  # no route at all
    tokens = client.post(
        base_for("/api/v1/auth") + "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": user.refresh_token},
    )
    user.remember(expect(tokens, 200).json())


def _families(text: str) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """``{family name as catalogued: [(sample name, labels), ...]}``."""
    families: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for family in text_string_to_metric_families(text):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        families[name] = [
            (s.name, s.labels) for s in family.samples if not s.name.endswith("_created")
        ]
    return families


def _check_exposure(
    who: str, text: str, declared_in: tuple[str, ...], must_have: tuple[str, ...]
) -> None:
    table = catalogue.collect()
    families = _families(text)
    mine = [m for m in table if m.module.rsplit(".", 2)[-2] in declared_in]
    missing = [m.name for m in mine if m.name not in families]
    assert not missing, f"{who} does not expose {missing}"
    by_name = {m.name: m for m in table}
    values: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for name, samples in families.items():
        if name not in by_name:
            continue  # the client library's own process_* / python_* series
        for sample, labels in samples:
            names = set(labels) - {"le"}
            assert names == set(by_name[name].labels), (
                f"{who}: {sample} has labels {sorted(names)}, catalogued {by_name[name].labels}"
            )
            for label, value in labels.items():
                values[(name, label, labels.get("service", ""))].add(value)
                assert not UUID.search(value), f"{who}: {sample}{{{label}={value!r}}} holds an id"
                assert not LONG_HEX.search(value), f"{who}: {sample}{{{label}={value!r}}}: token?"
                assert "@" not in value, f"{who}: {sample}{{{label}={value!r}}} holds an e-mail"
                assert len(value) <= 120, f"{who}: {sample}{{{label}}} is {len(value)} chars"
                if label == "route":
                    assert ROUTE.match(value), f"{who}: route {value!r} is not a template"
    for name in must_have:
        assert families.get(name), f"{who}: no {name} series after the short load"
    for (name, label, service), seen in values.items():
        assert len(seen) <= 100, (
            f"{who}: {name}{{{label}}} of {service or 'the process'} has {len(seen)} values"
        )


def _probe_lines(text: str, service: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.startswith("dependency_up{")]
    return [line for line in lines if f'service="{service}"' in line] or [""]


def _wait_for_probe(base_url: str, services: tuple[str, ...]) -> str:
    """The scrape once every service's background readiness probe has run (every 5 s)."""
    deadline = time.monotonic() + 15
    while True:
        text = httpx.get(f"{base_url}/metrics", timeout=10).text
        if all(f'service="{s}"' in line for s in services for line in _probe_lines(text, s)):
            return text
        assert time.monotonic() < deadline, f"no dependency_up for {services} at {base_url}"
        time.sleep(0.25)


def test_every_process_exposes_its_catalogued_metrics_with_bounded_labels(
    stack: Stack, direct_services: DirectServices, new_account: Callable[..., Account]
) -> None:
    user = new_account(signed_in=False)
    with httpx.Client(timeout=15) as client:
        _short_load(client, lambda _: stack.base_url, user)  # all-in-one, through the gateway

        def direct(path: str) -> str:
            service = next(s for prefix, s in SERVICE_OF_PREFIX if path.startswith(prefix))
            return direct_services.urls[service]

        _short_load(client, direct, user)  # each service in its own process

    every = ("common", "gateway", *MUST_HAVE_SAMPLES)
    text = _wait_for_probe(stack.base_url, tuple(MUST_HAVE_SAMPLES))
    red = ("http_requests_total", "http_request_duration_seconds", "dependency_up")
    all_domain = tuple(name for names in MUST_HAVE_SAMPLES.values() for name in names)
    _check_exposure("all-in-one", text, every, (*red, "db_pool_max_connections", *all_domain))
    for service, url in direct_services.urls.items():
        text = _wait_for_probe(url, (service,))
        pools = ("db_pool_max_connections", "db_pool_in_use_connections")
        must = (*red, *(pools if service in USES_POSTGRES else ()), *MUST_HAVE_SAMPLES[service])
        _check_exposure(service, text, ("common", service), must)


@pytest.mark.parametrize(
    ("labels", "complaint"),
    [
        ('route="/api/v1/content/3d6f4c24-2574-47ea-bea8-0293c0f9f1c3"', "holds an id"),
        ('route="/api/v1/search?q=x y"', "is not a template"),
        ('route="/api/v1/me",user="a@b.example"', "has labels"),
    ],
)
def test_the_exposure_check_rejects_unbounded_or_uncatalogued_labels(
    labels: str, complaint: str
) -> None:
    base = 'service="auth",method="GET",status="200"'
    text = f"# TYPE http_requests_total counter\nhttp_requests_total{{{base},{labels}}} 1\n"
    with pytest.raises(AssertionError, match=complaint):
        _check_exposure("probe", text, (), ())
