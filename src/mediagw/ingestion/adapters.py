"""Platform adapters: where a feed comes from. Each yields the feed's raw items.

- :class:`JsonFileAdapter` reads ``<feeds_dir>/<name>.json`` and nothing outside ``feeds_dir``
  (the name is resolved, symlinks included, and refused if it lands elsewhere);
- :class:`HttpFeedAdapter` GETs a URL returning the same JSON, following ``next_page`` with
  ``?page=`` until a page has none.

Both accept the document ``{"platform": …, "items": […]}`` (``next_page`` on HTTP pages) or a
bare list of items; the items may be in either feed format (see ``normalise``). Problems with
the request (a path outside the directory, a URL scheme) are :class:`ApiError` s raised when the
adapter is built, before a run exists; problems reading the feed are :class:`FeedError` s that
fail the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import httpx

from mediagw import __version__
from mediagw.common.errors import ApiError
from mediagw.ingestion.normalise import parse_feed


class FeedError(Exception):
    """The feed could not be read or is not a feed; the run fails with this message."""


class PlatformAdapter(Protocol):
    source: str
    """What the run records as its source (``file:<name>`` or the URL)."""

    def items(self) -> AsyncIterator[Any]:
        """The feed's raw items, in order."""
        ...


def _check_platform(document_platform: str | None, platform: str, where: str) -> None:
    if document_platform is not None and document_platform != platform:
        raise FeedError(f"{where} is the feed of {document_platform!r}, not of {platform!r}")


class JsonFileAdapter:
    def __init__(self, feeds_dir: Path | None, name: str, platform: str, *, max_bytes: int) -> None:
        if feeds_dir is None:
            raise ApiError(
                403,
                "file_feeds_disabled",
                "file feeds are disabled on this service (MG_FEEDS_DIR is not set)",
                field="source.type",
            )
        root = feeds_dir.resolve()
        # A NUL byte makes resolve() raise ValueError: refuse it before touching the path.
        path = None if "\x00" in name else (root / f"{name}.json").resolve()
        if path is None or not path.is_relative_to(root):
            raise ApiError(
                400,
                "path_outside_feeds_dir",
                "source.name must name a feed inside the feeds directory",
                field="source.name",
            )
        try:
            is_file = path.is_file()
        except OSError:  # e.g. ENAMETOOLONG: a 255-character stem plus ".json" is too long
            is_file = False
        if not is_file:
            raise ApiError(
                404, "unknown_feed", f"there is no feed named {name!r}", field="source.name"
            )
        self.path = path
        self.platform = platform
        self.max_bytes = max_bytes
        self.source = f"file:{name}"

    def _read(self) -> Any:
        size = self.path.stat().st_size
        if size > self.max_bytes:
            raise FeedError(f"{self.source}: {size} bytes exceeds the {self.max_bytes}-byte limit")
        try:
            return json.loads(self.path.read_bytes())
        except json.JSONDecodeError as exc:
            raise FeedError(f"{self.source}: not valid JSON ({exc})") from None

    async def items(self) -> AsyncIterator[Any]:
        document = await asyncio.to_thread(self._read)
        try:
            platform, items, _ = parse_feed(document)
        except ValueError as exc:
            raise FeedError(f"{self.source}: {exc}") from None
        _check_platform(platform, self.platform, self.source)
        for item in items:
            yield item


class HttpFeedAdapter:
    def __init__(
        self,
        url: str,
        platform: str,
        *,
        timeout: float,
        max_pages: int,
        max_bytes: int,
        allow_plain_http: bool = False,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ApiError(422, "invalid_url", f"not a URL: {exc}", field="source.url") from None
        allowed = ("https", "http") if allow_plain_http else ("https",)
        if parsed.scheme not in allowed:
            raise ApiError(
                403,
                "invalid_url",
                f"the feed URL must use {' or '.join(allowed)}",
                field="source.url",
            )
        if not parsed.host:
            raise ApiError(422, "invalid_url", "the feed URL has no host", field="source.url")
        if parsed.userinfo:
            raise ApiError(
                422,
                "invalid_url",
                "credentials in the feed URL are not accepted",
                field="source.url",
            )
        if allowed_hosts and parsed.host.lower() not in allowed_hosts:
            raise ApiError(
                403,
                "feed_host_not_allowed",
                f"feeds are fetched only from {', '.join(sorted(allowed_hosts))}",
                field="source.url",
            )
        self.url = parsed
        self.platform = platform
        self.timeout = timeout
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.source = str(parsed)

    async def _page(self, client: httpx.AsyncClient, url: httpx.URL) -> Any:
        try:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FeedError(f"GET {url} answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FeedError(f"GET {url}: more than {self.max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise FeedError(f"GET {url} failed: {type(exc).__name__}: {exc}") from None
        try:
            return json.loads(bytes(body))
        except json.JSONDecodeError as exc:
            raise FeedError(f"GET {url}: not valid JSON ({exc})") from None

    async def items(self) -> AsyncIterator[Any]:
        headers = {"Accept": "application/json", "User-Agent": f"mediagw-ingestion/{__version__}"}
        async with httpx.AsyncClient(
            timeout=self.timeout, headers=headers, follow_redirects=False
        ) as client:
            url, seen = self.url, set()
            for _ in range(self.max_pages):
                document = await self._page(client, url)
                try:
                    platform, items, next_page = parse_feed(document)
                except ValueError as exc:
                    raise FeedError(f"GET {url}: {exc}") from None
                _check_platform(platform, self.platform, f"GET {url}")
                for item in items:
                    yield item
                if next_page is None or next_page == "":
                    return
                marker = str(next_page)
                if marker in seen:
                    raise FeedError(f"GET {url}: next_page {marker!r} was already fetched")
                seen.add(marker)
                url = self.url.copy_merge_params({"page": marker})
            raise FeedError(f"{self.source}: more than {self.max_pages} pages")
