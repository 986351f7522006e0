"""``mgh fuzz``: schemathesis' CLI against a whole stack, one run per document and address.

The gateway's document is fuzzed through the gateway; each service's document on the service's
own address (internal operations included). The fuzzer signs in as the stack's admin through
``harness.contracts.st_hooks``; for a service without a login of its own it signs in at the
gateway, whose tokens every service accepts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from harness.contracts.cli_runs import RunResult, Target, run, summary_table
from harness.contracts.st_hooks import EMAIL_VARIABLE, LOGIN_URL_VARIABLE, PASSWORD_VARIABLE
from harness.service_processes import SERVICES
from harness.services import DirectServices, launch_services
from harness.services import from_environment as services_from_environment
from harness.stack import Stack, from_environment, launch

DOCUMENTS = ("gateway", *SERVICES)

__all__ = ["DOCUMENTS", "FuzzSetupError", "run_all", "summary_table"]


class FuzzSetupError(RuntimeError):
    """The stack to fuzz could not be found or started; the message says what to set."""


@contextmanager
def _stack_and_services(
    documents: tuple[str, ...], timeout: float, embedder: str, progress: Callable[[str], None]
) -> Iterator[tuple[Stack, DirectServices | None, tuple[str, str]]]:
    """The stack (attached or launched), the services' own addresses when a service document
    is wanted, and the account the fuzzer signs in as."""
    with ExitStack() as cleanup:
        stack = from_environment()
        if stack is None:
            progress("starting a seeded stack (mgh stack up) …")
            stack = cleanup.enter_context(launch(seed=True, embedder=embedder, timeout=timeout))
            assert stack.admin is not None  # a launched stack always registers its admin
            account = (stack.admin.email, stack.admin.password)
        else:
            email, password = os.environ.get(EMAIL_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
            if not (email and password):
                raise FuzzSetupError(
                    f"attached to {stack.base_url}: set {EMAIL_VARIABLE} and {PASSWORD_VARIABLE}"
                )
            account = (email, password)
        services = None
        if any(name != "gateway" for name in documents):
            services = services_from_environment()
            if services is None:
                if not stack.launched:
                    raise FuzzSetupError(
                        "service documents need each service's address: set "
                        "MG_TARGET_SERVICE_URLS, or --only gateway"
                    )
                progress("starting each service on its own address …")
                services = launch_services(stack, timeout=timeout)
                cleanup.callback(services.stop)
        yield stack, services, account


def run_all(
    report_dir: Path,
    *,
    documents: tuple[str, ...] = (),
    examples: int | None = None,
    seed: int | None = None,
    timeout: float = 90.0,
    embedder: str = "hashing",
    progress: Callable[[str], None] = print,
) -> list[RunResult]:
    """Fuzz each wanted document (all by default) and return what every run found."""
    unknown = sorted(set(documents) - set(DOCUMENTS))
    if unknown:
        raise FuzzSetupError(f"unknown document(s) {', '.join(unknown)}: {', '.join(DOCUMENTS)}")
    documents = documents or DOCUMENTS
    results: list[RunResult] = []
    with _stack_and_services(documents, timeout, embedder, progress) as (stack, services, account):
        env = {
            EMAIL_VARIABLE: account[0],
            PASSWORD_VARIABLE: account[1],
            LOGIN_URL_VARIABLE: stack.base_url,
        }
        for document in documents:
            if document == "gateway":
                target = Target(document, "gateway", stack.base_url)
            else:
                assert services is not None
                if document not in services.urls:
                    raise FuzzSetupError(f"no address for {document} in MG_TARGET_SERVICE_URLS")
                target = Target(document, "direct", services.urls[document])
            progress(f"st run {document}.json --url {target.url} …")
            result = run(target, report_dir, env=env, examples=examples, seed=seed)
            progress(
                f"  {len(result.failed_operations)} failing of {result.operations} operations, "
                f"{result.generated} cases, {result.seconds:.1f}s"
            )
            results.append(result)
    return results
