"""Discovery's per-process catalogue cache: bounded, aged out, dropped when the catalogue moves."""

from __future__ import annotations

import asyncio

import pytest

from mediagw.discovery.catalogue_cache import CatalogueCache, follow_version

pytestmark = pytest.mark.unit


def test_an_answer_is_rendered_once_then_served_from_the_cache() -> None:
    cache = CatalogueCache[bytes]("test", max_entries=10, ttl_seconds=60)
    renders = []

    async def render() -> bytes:
        renders.append(1)
        return b'{"id": 1}'

    async def scenario() -> list[bytes]:
        return [await cache.through("details:1", render) for _ in range(3)]

    assert asyncio.run(scenario()) == [b'{"id": 1}'] * 3
    assert len(renders) == 1


def test_a_failed_render_is_not_cached() -> None:
    cache = CatalogueCache[bytes]("test", max_entries=10, ttl_seconds=60)

    async def missing() -> bytes:
        raise LookupError("no such title")

    with pytest.raises(LookupError):
        asyncio.run(cache.through("details:gone", missing))
    assert cache.get("details:gone") is None


def test_the_least_recently_used_entry_leaves_first() -> None:
    cache = CatalogueCache[bytes]("test", max_entries=2, ttl_seconds=60)
    cache.put("a", b"A")
    cache.put("b", b"B")
    assert cache.get("a") == b"A"  # a is now the most recent
    cache.put("c", b"C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"A", None, b"C")


def test_zero_entries_turns_the_cache_off() -> None:
    cache = CatalogueCache[bytes]("test", max_entries=0, ttl_seconds=60)
    cache.put("a", b"A")
    assert not cache.enabled
    assert cache.get("a") is None


def test_an_entry_older_than_its_ttl_is_not_served(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("mediagw.discovery.catalogue_cache.time.monotonic", lambda: now[0])
    cache = CatalogueCache[bytes]("test", max_entries=10, ttl_seconds=5)
    cache.put("a", b"A")
    now[0] += 4.9
    assert cache.get("a") == b"A"
    now[0] += 0.2
    assert cache.get("a") is None


def test_a_new_catalogue_version_drops_every_entry_an_unknown_one_keeps_them() -> None:
    cache = CatalogueCache[bytes]("test", max_entries=10, ttl_seconds=60)
    cache.saw_version("7")
    cache.put("a", b"A")
    cache.saw_version("7")
    assert cache.get("a") == b"A"
    cache.saw_version(None)  # Redis did not answer: nothing is known
    assert cache.get("a") == b"A"
    cache.saw_version("8")
    assert cache.get("a") is None


def test_one_follower_reads_the_version_for_every_cache_until_told_to_stop() -> None:
    cache = CatalogueCache[bytes]("test", max_entries=10, ttl_seconds=60)
    other = CatalogueCache[str]("other", max_entries=10, ttl_seconds=60)
    versions = iter(["1", "1", "2", "2"])
    reads: list[str] = []
    stop = asyncio.Event()

    async def read_version() -> str | None:
        version = next(versions)
        reads.append(version)
        if len(reads) == 2:
            cache.put("a", b"A")
            other.put("b", "B")
        if len(reads) == 4:
            stop.set()
        return version

    async def scenario() -> None:
        await asyncio.wait_for(follow_version([cache, other], read_version, 0.01, stop), 1)

    asyncio.run(scenario())
    assert reads == ["1", "1", "2", "2"]  # once per round, not once per cache
    assert cache.version == other.version == "2"
    assert cache.get("a") is None  # put under version 1, dropped when 2 was read
    assert other.get("b") is None
