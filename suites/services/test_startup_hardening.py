"""The services refuse to start with a guessable JWT_SECRET, and say so in one line.

Each case runs ``python -m mediagw serve …`` as a real process with a controlled environment
(nothing inherited but PATH), so what is tested is exactly what an operator would see.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.backends import Backend
from harness.backends.process import free_port
from harness.isolation import IsolatedDatabase
from harness.service_processes import RunningService, ServiceProcesses, serve_argv

pytestmark = pytest.mark.integration

REFUSAL_SECONDS = 10.0
START_SECONDS = 30.0
WEAK = "changeme"


@pytest.fixture
def base_env(
    pg_database: IsolatedDatabase, redis_backend: Backend, kafka_backend: Backend, tmp_path: Path
) -> dict[str, str]:
    """What a service needs besides its secret; no variable leaks in from the test runner."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MG_POSTGRES_URL": pg_database.url,  # migrated: the services need their schema
        "MG_REDIS_URL": redis_backend.url,
        "MG_KAFKA_BOOTSTRAP": kafka_backend.url,  # the gateway mounts ingestion
        "MG_EMAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MG_ENV": "test",
    }


def run_refused(service: str, env: dict[str, str]) -> tuple[int, str, float]:
    """Run a service that must refuse to start: exit code, stderr, seconds it took."""
    started = time.monotonic()
    result = subprocess.run(
        serve_argv(service, free_port()),
        env=env,
        capture_output=True,
        text=True,
        timeout=REFUSAL_SECONDS * 3,
        check=False,
    )
    return result.returncode, result.stderr, time.monotonic() - started


def assert_refused(service: str, env: dict[str, str], reason: str) -> str:
    code, stderr, seconds = run_refused(service, env)
    assert code != 0, f"{service} started with JWT_SECRET={env.get('JWT_SECRET')!r}"
    assert code == 2
    assert seconds < REFUSAL_SECONDS
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{stderr}"
    line = lines[0]
    assert line.startswith(f"{service}: configuration error: JWT_SECRET: ")
    assert reason in line, line
    assert "Traceback" not in stderr
    secret = env.get("JWT_SECRET")
    if secret and len(secret) >= 6:
        assert secret not in line, "the refusal must not print the secret"
    return line


Starter = Callable[[str, dict[str, str]], RunningService]


@pytest.fixture
def started(service_processes: ServiceProcesses) -> Starter:
    """``started(service, env)``: a running service (live), terminated after the test."""

    def start(service: str, env: dict[str, str]) -> RunningService:
        return service_processes.start(service, env, probe="live", timeout=START_SECONDS)

    return start


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (None, "must be set"),
        ("", "must be set"),
        (secrets.token_urlsafe(16), "at least 32 are required"),
        ("0123456789abcdef0123456789abcde", "is 31 bytes; at least 32 are required"),
        ("secret", "well-known placeholder"),
        ("changeme", "well-known placeholder"),
        ("CHANGEME", "well-known placeholder"),
        ("changeme-" + secrets.token_urlsafe(40), "well-known placeholder"),
        ("a" * 64, "refusing to start with a guessable signing key"),
        ("ab" * 40, "refusing to start with a guessable signing key"),
    ],
)
def test_auth_refuses_a_weak_or_missing_secret(
    base_env: dict[str, str], secret: str | None, reason: str
) -> None:
    env = dict(base_env)
    if secret is not None:
        env["JWT_SECRET"] = secret
    line = assert_refused("auth", env, reason)
    assert "MG_ENV=development and MG_ALLOW_INSECURE_DEV_SECRET=1" in line


@pytest.mark.parametrize(
    "overrides",
    [
        {"MG_ENV": "development"},
        {"MG_ALLOW_INSECURE_DEV_SECRET": "1"},
        {"MG_ENV": "production", "MG_ALLOW_INSECURE_DEV_SECRET": "1"},
        {"MG_ENV": "staging", "MG_ALLOW_INSECURE_DEV_SECRET": "true"},
        {"MG_ENV": "development", "MG_ALLOW_INSECURE_DEV_SECRET": "0"},
    ],
    ids=["dev-only", "flag-only", "flag-in-production", "flag-in-staging", "dev-flag-off"],
)
def test_half_of_the_dev_override_is_not_enough(
    base_env: dict[str, str], overrides: dict[str, str]
) -> None:
    assert_refused("auth", {**base_env, "JWT_SECRET": WEAK, **overrides}, "well-known placeholder")
    assert_refused("auth", {**base_env, **overrides}, "must be set")


def test_gateway_refuses_a_weak_secret_too(base_env: dict[str, str]) -> None:
    line = assert_refused("gateway", {**base_env, "JWT_SECRET": WEAK}, "well-known placeholder")
    assert WEAK not in line.split("JWT_SECRET: ", 1)[1]
    assert_refused("gateway", base_env, "must be set")


@pytest.mark.parametrize(
    ("secret", "problem"),
    [(WEAK, "is a well-known placeholder value"), (None, "is unset; using a random")],
)
def test_full_dev_override_starts_with_a_loud_warning(
    base_env: dict[str, str],
    started: Starter,
    secret: str | None,
    problem: str,
) -> None:
    env = {**base_env, "MG_ENV": "development", "MG_ALLOW_INSECURE_DEV_SECRET": "1"}
    if secret is not None:
        env["JWT_SECRET"] = secret
    log = started("auth", env).process.log_tail()
    warnings = [line for line in log.splitlines() if "INSECURE" in line]
    assert warnings, log
    assert all("WARNING" in line for line in warnings)
    assert any(f"JWT_SECRET {problem}" in line for line in warnings), warnings
    assert "Never run like this anywhere reachable" in warnings[0]


def test_strong_secret_starts_quietly_in_test(base_env: dict[str, str], started: Starter) -> None:
    auth = started("auth", {**base_env, "JWT_SECRET": secrets.token_urlsafe(48)})
    with httpx.Client(timeout=5) as client:
        ready = client.get(f"{auth.url}/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["service"] == "auth"
    assert "INSECURE" not in auth.process.log_tail()
    assert auth.process.alive


def test_strong_secret_starts_the_gateway(base_env: dict[str, str], started: Starter) -> None:
    gateway = started("gateway", {**base_env, "JWT_SECRET": secrets.token_urlsafe(48)})
    with httpx.Client(timeout=5) as client:
        live = client.get(f"{gateway.url}/health/live")
    assert live.json()["service"] == "gateway"
    assert "INSECURE" not in gateway.process.log_tail()
