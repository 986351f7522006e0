"""Start-up steps that more than one service's lifespan takes (besides ``open_stores``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack

from fastapi import FastAPI
from qdrant_client import QdrantClient

from mediagw.common.vectors import is_embedded, open_qdrant

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""What ``create_service_app`` runs around a service's life."""


def open_vector_store(stack: AsyncExitStack, url: str) -> QdrantClient:
    """The Qdrant client, closed by ``stack`` only when it is a server's: the embedded engine is
    shared by every service mounted in the process, so one service stopping must not close it
    under the others."""
    qdrant = open_qdrant(url)
    if not is_embedded(url):
        stack.callback(qdrant.close)
    return qdrant


__all__ = ["Lifespan", "open_vector_store"]
