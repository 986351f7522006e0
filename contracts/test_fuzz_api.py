"""Schema fuzzing: every committed OpenAPI document, fuzzed against the running stack.

Schemathesis generates requests from ``contracts/openapi/<service>.json`` (valid ones and,
where the check is on, invalid ones) and sends them through the gateway of a launched, seeded
stack (``stack.base_url``) with the bearer token of a fresh user (the admin's for the admin-only
operations). Every response must pass the checks in ``CHECKS``.

The budget is small and deterministic (``MG_FUZZ_EXAMPLES`` examples per operation, default
10, derandomized), so this file is part of ``make test``; ``make fuzz`` runs the same file with
a much larger budget and prints a summary (operations covered, examples run, failures).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from harness.accounts import Account, login, register_verified
from harness.stack import Stack

pytestmark = pytest.mark.contract

SNAPSHOTS = Path(__file__).resolve().parent / "openapi"
MAX_EXAMPLES = int(os.environ.get("MG_FUZZ_EXAMPLES", "10"))
SUMMARY_FILE = os.environ.get("MG_FUZZ_SUMMARY")  # `make fuzz`: examples per operation, here

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]

# Operations that need the admin scope: fuzzed with the admin's token.
ADMIN_OPERATIONS = {
    ("POST", "/api/v1/auth/clients"),
    ("POST", "/api/v1/ingestion/runs"),
    ("GET", "/api/v1/ingestion/runs/{run_id}"),
}
# Operations that can end the caller's own session or key: each example gets a session of its
# own (a fresh login of the fuzzing user), so a successful logout or session deletion never
# invalidates the token the other examples use.
CREDENTIAL_CHANGING = {
    ("POST", "/api/v1/auth/logout"),
    ("DELETE", "/api/v1/auth/sessions/{session_id}"),
    ("DELETE", "/api/v1/auth/api-keys/{key_id}"),
}


def _load(service: str) -> Any:
    document = json.loads((SNAPSHOTS / f"{service}.json").read_text())
    schema = schemathesis.openapi.from_dict(document)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
        # The token is ours (sent as a header on every call): schemathesis must not generate,
        # drop or mangle `Authorization` itself, or a negative case it believes unauthenticated
        # is sent with a valid token. Auth enforcement is what `ignored_auth` probes instead.
        with_security_parameters=False,
    )
    # Not reachable through the gateway by design (it never exposes /api/v1/internal/*: a 404
    # at the edge); service-to-service calls are covered by the services' own suites.
    return schema.exclude(path_regex=r"^/api/v1/internal/")


auth_schema = _load("auth")
discovery_schema = _load("discovery")
sona_schema = _load("sona")
sync_schema = _load("sync")
playback_schema = _load("playback")
ingestion_schema = _load("ingestion")


@pytest.fixture(scope="module")
def fuzz_user(stack: Stack) -> Account:
    """A verified, signed-in user of its own: nothing the fuzzer does leaks into other tests."""
    if stack.mailbox is None:
        pytest.fail("the stack's mailbox is unknown: set MG_TARGET_MAILBOX")
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        return login(client, register_verified(client, stack.mailbox))


@pytest.fixture(scope="module")
def fuzz_client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def tally() -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    yield counts
    if SUMMARY_FILE:
        with Path(SUMMARY_FILE).open("a") as out:
            out.write(json.dumps(dict(counts)) + "\n")


@pytest.fixture(scope="module")
def token_for(
    fuzz_user: Account, admin_account: Account, fuzz_client: httpx.Client
) -> Callable[[Case], str]:
    def token(case: Case) -> str:
        key = (case.operation.method.upper(), case.operation.path)
        if key in ADMIN_OPERATIONS:
            return admin_account.access_token
        if key in CREDENTIAL_CHANGING:
            own = Account(fuzz_user.email, fuzz_user.password)
            return login(fuzz_client, own).access_token
        return fuzz_user.access_token

    return token


def _fuzz(case: Case, stack: Stack, token_for: Callable[[Case], str], tally: Counter[str]) -> None:
    tally[case.operation.label] += 1
    headers = {"Authorization": f"Bearer {token_for(case)}"}
    case.call_and_validate(base_url=stack.base_url, headers=headers, checks=CHECKS, timeout=30)


_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@auth_schema.parametrize()
@_SETTINGS
def test_auth(
    case: Case, stack: Stack, token_for: Callable[[Case], str], tally: Counter[str]
) -> None:
    _fuzz(case, stack, token_for, tally)


@discovery_schema.parametrize()
@_SETTINGS
def test_discovery(
    case: Case, stack: Stack, token_for: Callable[[Case], str], tally: Counter[str]
) -> None:
    _fuzz(case, stack, token_for, tally)


@sona_schema.parametrize()
@_SETTINGS
def test_sona(
    case: Case, stack: Stack, token_for: Callable[[Case], str], tally: Counter[str]
) -> None:
    _fuzz(case, stack, token_for, tally)


@sync_schema.parametrize()
@_SETTINGS
def test_sync(
    case: Case, stack: Stack, token_for: Callable[[Case], str], tally: Counter[str]
) -> None:
    _fuzz(case, stack, token_for, tally)


@playback_schema.parametrize()
@_SETTINGS
def test_playback(
    case: Case, stack: Stack, token_for: Callable[[Case], str], tally: Counter[str]
) -> None:
    _fuzz(case, stack, token_for, tally)


@ingestion_schema.parametrize()
@_SETTINGS
def test_ingestion(
    case: Case, stack: Stack, token_for: Callable[[Case], str], tally: Counter[str]
) -> None:
    _fuzz(case, stack, token_for, tally)
