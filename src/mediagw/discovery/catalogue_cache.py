"""What the catalogue says, kept in the process: rendered details and listings, hydrated hits.

A title's details, the genres, the platforms and the fields a search hit shows change only
when the catalogue does, which the search cache already tracks: the version counter
``search:cache:version`` in Redis, bumped by the content-event consumer (``content.updated``,
``availability.changed``, ``content.ingested``) and by the embedded index upkeep. Each process
reads that counter every ``check_seconds`` and drops everything it kept when the counter
moved, so a change is served at most ``check_seconds`` after its bump (the README gives the
measured figure, from ``suites/services/e2e/test_catalogue_freshness.py``).

A hit skips the database and, for rendered answers, the model validation and JSON encoding
too: the costs of a details request and of a cached search's hydration. Each worker keeps its
own entries, at most ``max_entries`` (least recently used out first); ``ttl_seconds`` bounds how
stale one can be while Redis cannot be read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from mediagw.discovery.metrics import CATALOGUE_CACHE

log = logging.getLogger("mediagw.discovery.catalogue_cache")
V = TypeVar("V")


class CatalogueCache(Generic[V]):
    def __init__(self, name: str, max_entries: int, ttl_seconds: float) -> None:
        self.name = name
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self.version: str | None = None
        self._hit = CATALOGUE_CACHE.labels(name, "hit")
        self._miss = CATALOGUE_CACHE.labels(name, "miss")

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl_seconds:
            self._miss.inc()
            return None
        self._entries.move_to_end(key)
        self._hit.inc()
        return entry[1]

    def put(self, key: str, value: V) -> None:
        if not self.enabled:
            return
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def through(self, key: str, load: Callable[[], Awaitable[V]]) -> V:
        """The kept value for ``key``, or ``load()``'s, kept for next time (a failed load
        keeps nothing)."""
        value = self.get(key)
        if value is None:
            value = await load()
            self.put(key, value)
        return value

    def saw_version(self, version: str | None) -> None:
        """Drop every entry when the catalogue version moved (None: Redis did not answer, so
        nothing is known and the entries age out by their TTL)."""
        if version is None:
            return
        if self.version is not None and version != self.version:
            dropped = len(self._entries)
            self._entries.clear()
            log.info("catalogue version %s → %s: %d %s entries dropped",
                     self.version, version, dropped, self.name)  # fmt: skip
        self.version = version


async def follow_version(
    caches: Sequence[CatalogueCache[Any]],
    read_version: Callable[[], Awaitable[str | None]],
    every: float,
    stop: asyncio.Event,
) -> None:
    """Read the catalogue version every ``every`` seconds, once for all ``caches``, until
    ``stop`` is set."""
    while not stop.is_set():
        version = await read_version()
        for cache in caches:
            cache.saw_version(version)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            continue


__all__ = ["CatalogueCache", "follow_version"]
