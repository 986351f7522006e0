"""OpenAPI contracts: the committed snapshots are what the services serve, and they are sound.

The documents are generated in a subprocess (``python -m mediagw openapi export``), the way
``mgh contracts check`` does it, so this suite never imports the services.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.contracts.openapi import diff, needs_version_bump
from harness.services import DirectServices
from harness.stack import Stack

pytestmark = pytest.mark.contract

SNAPSHOTS = Path(__file__).resolve().parent / "openapi"
SERVICES = ("auth", "discovery", "sona", "sync", "playback", "ingestion", "gateway")
METHODS = ("get", "put", "post", "delete", "patch")
SHARED_ERROR = "#/components/schemas/ErrorBody"
OAUTH_ERROR = "#/components/schemas/OAuthErrorBody"
OAUTH_ENDPOINT = "/api/v1/auth/token"

# SYSTEM.md "Public API through the gateway", by the service that implements each operation.
# Left out: `GET /sync/ws` (a WebSocket, which OpenAPI 3.1 cannot describe).
PUBLIC_API: dict[str, set[tuple[str, str]]] = {
    "auth": {
        ("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/verify-email"),
        ("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/mfa/verify"),
        ("post", "/api/v1/auth/token"), ("get", "/api/v1/auth/authorize"),
        ("post", "/api/v1/auth/device/code"), ("post", "/api/v1/auth/device/approve"),
        ("post", "/api/v1/auth/logout"), ("post", "/api/v1/auth/password/forgot"),
        ("post", "/api/v1/auth/password/reset"), ("get", "/api/v1/auth/sessions"),
        ("delete", "/api/v1/auth/sessions/{session_id}"), ("post", "/api/v1/auth/api-keys"),
        ("get", "/api/v1/auth/api-keys"), ("delete", "/api/v1/auth/api-keys/{key_id}"),
        ("post", "/api/v1/auth/mfa/enroll"), ("get", "/api/v1/auth/.well-known/jwks.json"),
        ("post", "/api/v1/auth/clients"), ("get", "/api/v1/me"),
    },
    "discovery": {
        ("get", "/api/v1/content/{content_id}"), ("get", "/api/v1/search"),
        ("post", "/api/v1/search/semantic"), ("get", "/api/v1/search/autocomplete"),
        ("get", "/api/v1/content/{content_id}/similar"), ("get", "/api/v1/platforms"),
        ("get", "/api/v1/genres"),
    },
    "sona": {
        ("get", "/api/v1/recommendations"), ("post", "/api/v1/interactions"),
        ("get", "/api/v1/profile/preferences"), ("put", "/api/v1/profile/preferences"),
        ("post", "/api/v1/internal/rerank"),
    },
    "playback": {
        ("post", "/api/v1/playback/sessions"),
        ("post", "/api/v1/playback/sessions/{session_id}/heartbeat"),
        ("post", "/api/v1/playback/sessions/{session_id}/stop"),
        ("get", "/api/v1/playback/continue-watching"), ("get", "/api/v1/playback/history"),
        ("get", "/api/v1/content/{content_id}/deep-link"),
    },
    "sync": {
        ("get", "/api/v1/devices"), ("post", "/api/v1/devices"),
        ("delete", "/api/v1/devices/{device_id}"), ("get", "/api/v1/watchlist"),
        ("put", "/api/v1/watchlist/{content_id}"), ("delete", "/api/v1/watchlist/{content_id}"),
    },
    "ingestion": {
        ("post", "/api/v1/ingestion/runs"), ("get", "/api/v1/ingestion/runs/{run_id}"),
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("openapi")
    result = subprocess.run(
        [sys.executable, "-m", "mediagw", "openapi", "export", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"mediagw openapi export failed:\n{result.stderr}"
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def committed(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SNAPSHOTS / f"{service}.json").read_text())
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_service_has_a_committed_snapshot(generated: dict[str, dict[str, Any]]) -> None:
    assert sorted(generated) == sorted(SERVICES)
    assert sorted(p.stem for p in SNAPSHOTS.glob("*.json")) == sorted(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_snapshot_equals_the_running_apps_document(
    service: str, generated: dict[str, dict[str, Any]]
) -> None:
    old, new = committed(service), generated[service]
    if old == new:
        return
    changes = diff(old, new)
    listing = "\n".join(f"  {change}" for change in changes) or "  (only unclassified details)"
    bump = (
        "\nbreaking changes without a major bump of info.version: bump the service's major "
        "in src/mediagw/api_versions.py"
        if needs_version_bump(old, new, changes)
        else ""
    )
    pytest.fail(
        f"contracts/openapi/{service}.json is stale:\n{listing}{bump}\n"
        "run `python -m mediagw openapi export` and commit the result (for breaking changes "
        "bump the major in src/mediagw/api_versions.py first)",
        pytrace=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_document_is_openapi_3_1(service: str) -> None:
    document = committed(service)
    assert document["openapi"].startswith("3.1."), document["openapi"]
    assert document["info"]["version"]
    assert document["paths"]


def _error_refs(response: dict[str, Any]) -> set[str]:
    return {
        media.get("schema", {}).get("$ref", "")
        for media in (response.get("content") or {}).values()
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_declares_a_4xx_with_the_shared_error_schema(service: str) -> None:
    """Every API operation (the health probes are infrastructure, not API) documents its errors."""
    document = committed(service)
    missing = []
    for method, path, operation in operations(document):
        if not path.startswith("/api/"):
            continue
        allowed = {SHARED_ERROR, OAUTH_ERROR} if path == OAUTH_ENDPOINT else {SHARED_ERROR}
        ok = any(
            status.startswith("4") and _error_refs(response) & allowed
            for status, response in operation["responses"].items()
        )
        if not ok:
            missing.append(f"{method.upper()} {path}")
    assert not missing, f"no 4xx response with the shared error schema: {missing}"
    assert SHARED_ERROR.rsplit("/", 1)[-1] in document["components"]["schemas"]


def test_token_endpoint_answers_errors_with_the_oauth_body() -> None:
    responses = committed("auth")["paths"][OAUTH_ENDPOINT]["post"]["responses"]
    assert OAUTH_ERROR in _error_refs(responses["400"])


@pytest.mark.parametrize("service", sorted(PUBLIC_API))
def test_public_api_of_system_md_is_present(service: str) -> None:
    present = {(method, path) for method, path, _ in operations(committed(service))}
    missing = sorted(PUBLIC_API[service] - present)
    assert not missing, f"{service}: SYSTEM.md public API missing from the document: {missing}"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.mark.parametrize("service", SERVICES)
def test_every_reference_resolves(service: str) -> None:
    document = committed(service)
    schemas = document.get("components", {}).get("schemas", {})
    dangling = sorted(
        {
            ref
            for ref in _refs(document)
            if not ref.startswith("#/components/schemas/")
            or ref.removeprefix("#/components/schemas/") not in schemas
        }
    )
    assert dangling == [], f"{service}: $refs that point to nothing: {dangling}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_link_leads_to_an_operation_of_the_same_document(service: str) -> None:
    """A link names its target by operationId; its path parameters must be the target's."""
    document = committed(service)
    by_id = {op.get("operationId"): (path, op) for _, path, op in operations(document)}
    broken = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            for name, definition in (response.get("links") or {}).items():
                where = f"{method.upper()} {path} {status} {name}"
                target = by_id.get(definition.get("operationId"))
                if target is None:
                    broken.append(f"{where}: no operation {definition.get('operationId')!r}")
                    continue
                declared = {p["name"] for p in target[1].get("parameters", []) if p["in"] == "path"}
                for parameter in definition.get("parameters", {}):
                    location, _, parameter_name = parameter.partition(".")
                    if location == "path" and parameter_name not in declared:
                        broken.append(
                            f"{where}: {target[0]} has no path parameter {parameter_name!r}"
                        )
    assert broken == []


def test_the_documents_declare_the_journeys_of_the_issue() -> None:
    """register → login, session start → heartbeat → stop, search → play (across services)."""

    def link_targets(service: str, path: str, method: str, status: str) -> set[str]:
        response = committed(service)["paths"][path][method]["responses"][status]
        return {d["operationId"] for d in response.get("links", {}).values()}

    assert "login_api_v1_auth_login_post" in link_targets(
        "auth", "/api/v1/auth/register", "post", "202"
    )
    started = link_targets("playback", "/api/v1/playback/sessions", "post", "201")
    assert {
        "heartbeat_api_v1_playback_sessions__session_id__heartbeat_post",
        "stop_session_api_v1_playback_sessions__session_id__stop_post",
    } <= started
    assert "start_session_api_v1_playback_sessions_post" in link_targets(
        "gateway", "/api/v1/search", "get", "200"
    )


def test_the_running_gateway_serves_the_committed_document(stack: Stack) -> None:
    """What a launched (or attached) gateway answers at /openapi.json is the committed one."""
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        served = client.get("/openapi.json")
    assert served.status_code == 200
    changes = diff(committed("gateway"), served.json())
    assert served.json() == committed("gateway"), "\n".join(str(c) for c in changes)


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "gateway"])
def test_each_running_service_serves_its_committed_document(
    service: str, request: pytest.FixtureRequest
) -> None:
    """Each service on its own address answers /openapi.json with its committed document."""
    direct: DirectServices = request.getfixturevalue("direct_services")
    with httpx.Client(base_url=direct.urls[service], timeout=30) as client:
        served = client.get("/openapi.json")
    assert served.status_code == 200
    changes = diff(committed(service), served.json())
    assert served.json() == committed(service), "\n".join(str(c) for c in changes)


def test_the_gateway_document_describes_only_what_the_gateway_serves() -> None:
    """Every public operation of every service, and no internal one: the gateway answers
    /api/v1/internal/* with 404, so its document must not list them."""
    gateway = committed("gateway")
    assert not [path for path in gateway["paths"] if path.startswith("/api/v1/internal")]
    public = {
        (method, path)
        for service in SERVICES
        if service != "gateway"
        for path, item in committed(service)["paths"].items()
        if path.startswith("/api/") and not path.startswith("/api/v1/internal")
        for method in item
    }
    served = {
        (method, path)
        for path, item in gateway["paths"].items()
        if path.startswith("/api/")
        for method in item
    }
    assert served == public
