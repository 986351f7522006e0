"""Qdrant: env URL, testcontainers, a local ``qdrant`` server binary, or the embedded engine.

The embedded engine is qdrant-client's local mode: it lives inside one process, so the backend
holds the single client and hands it out (:func:`client_for`); a second client on the same
storage would not see the data (``:memory:``) or would be refused (a path).
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from typing import TYPE_CHECKING, Any

from harness.backends.base import Backend, BackendSpec, BackendUnavailable, Mode, NotOwned
from harness.backends.process import ManagedProcess, free_port, make_workdir

if TYPE_CHECKING:  # the client library costs 0.7 s to import; only Qdrant's users pay it
    from qdrant_client import QdrantClient

CONTAINER_IMAGE = "qdrant/qdrant:v1.16.2"
EMBEDDED_SCHEME = "qdrant+embedded://"
EMBEDDED_MEMORY_URL = f"{EMBEDDED_SCHEME}memory"


def open_client(url: str, timeout: int = 10) -> QdrantClient:
    """A client for a server URL, or a new embedded engine for an embedded URL.

    ``qdrant+embedded://memory`` is an in-memory engine; ``qdrant+embedded:///abs/path`` keeps
    its data in that directory.
    """
    from qdrant_client import QdrantClient  # noqa: PLC0415 — see the TYPE_CHECKING import

    if url.startswith(EMBEDDED_SCHEME):
        where = url.removeprefix(EMBEDDED_SCHEME)
        return QdrantClient(location=":memory:") if where == "memory" else QdrantClient(path=where)
    return QdrantClient(url=url, timeout=timeout)


def client_for(backend: Backend) -> QdrantClient:
    """The client to use for ``backend``: the embedded engine's own, or a new server client."""
    from qdrant_client import QdrantClient  # noqa: PLC0415 — see the TYPE_CHECKING import

    embedded = backend.extras.get("client")
    return embedded if isinstance(embedded, QdrantClient) else open_client(backend.url)


def _http_ready(url: str) -> None:
    with urllib.request.urlopen(f"{url.rstrip('/')}/readyz", timeout=2) as response:  # noqa: S310 — URL from settings, http(s) checked in validate_url
        if response.status != 200:
            raise ConnectionError(f"/readyz answered {response.status}")


class QdrantSpec(BackendSpec):
    name = "qdrant"
    env_var = "MG_QDRANT_URL"
    install_hint = "the PyPI package 'qdrant-client' (embedded local mode) or a 'qdrant' binary"

    def validate_url(self, url: str) -> str:
        if not url.startswith(("http://", "https://", EMBEDDED_SCHEME)):
            raise ValueError(f"expected http(s)://host:6333 or {EMBEDDED_MEMORY_URL}")
        return url

    def probe(self, url: str) -> None:
        if url.startswith(EMBEDDED_SCHEME):
            raise ValueError("an embedded engine is probed through its own client")
        _http_ready(url)

    def attach(self, url: str) -> Backend:
        backend = super().attach(url)
        if backend.url.startswith(EMBEDDED_SCHEME):
            # An embedded URL in the environment means "use the engine in this process".
            return self._embedded(backend.url)
        return backend

    def start_container(self) -> Backend:
        from testcontainers.community.qdrant import QdrantContainer  # noqa: PLC0415 — needs Docker

        container = QdrantContainer(CONTAINER_IMAGE).start()

        def url_of(c: Any) -> str:
            return f"http://{c.rest_host_address}"

        return self._container_backend(container, url_of)

    def process_available(self) -> bool:
        return shutil.which("qdrant") is not None

    def start_process(self) -> Backend:
        binary = shutil.which("qdrant")
        if binary is None:
            raise BackendUnavailable("qdrant: no 'qdrant' server binary on PATH")
        workdir = make_workdir("qdrant")
        http_port, grpc_port = free_port(), free_port()
        env = dict(os.environ)
        env.update(
            QDRANT__SERVICE__HOST="127.0.0.1",
            QDRANT__SERVICE__HTTP_PORT=str(http_port),
            QDRANT__SERVICE__GRPC_PORT=str(grpc_port),
            QDRANT__STORAGE__STORAGE_PATH=str(workdir / "storage"),
            QDRANT__TELEMETRY_DISABLED="true",
        )
        process = ManagedProcess(self.name, [binary], workdir=workdir, env=env)
        url = f"http://127.0.0.1:{http_port}"
        return self._process_backend(process, url)

    def embedded_available(self) -> bool:
        return True  # qdrant-client is a dependency of the harness

    def start_embedded(self) -> Backend:
        return self._embedded(EMBEDDED_MEMORY_URL)

    def _embedded(self, url: str) -> Backend:
        client = open_client(url)

        def probe(_: str) -> None:
            client.get_collections()

        controls = _EmbeddedControls(client)
        return Backend(self.name, Mode.EMBEDDED, url, probe, controls, {"client": client})


class _EmbeddedControls(NotOwned):
    """The embedded engine has no process of its own: stop closes it, faults refuse."""

    def __init__(self, client: QdrantClient) -> None:
        super().__init__("qdrant", "the embedded engine runs inside this Python process")
        self._client = client

    def stop(self) -> None:
        self._client.close()


SPEC = QdrantSpec()
