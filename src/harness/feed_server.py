"""A platform's feed served over HTTP from loopback, as the ingestion service fetches one.

Tests change what a platform says (a longer synopsis, a broken page) without touching the
committed feed files: they serve the documents they need and hand the URL to an ingestion run
(``source: {"type": "http", "url": …}``; a launched test stack accepts plain http from
loopback).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@contextmanager
def serving(pages: dict[str | None, Any], path: str = "/feeds/feed.json") -> Iterator[str]:
    """A real HTTP server answering ``?page=`` markers (``None``: no marker, the first page)
    with their documents, or with a status code where the value is an int (404 for a marker
    not given); yields the feed's URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = parse_qs(urlsplit(self.path).query).get("page", [None])[0]
            body = pages.get(page, 404)
            data = b"" if isinstance(body, int) else json.dumps(body).encode()
            self.send_response(body if isinstance(body, int) else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


__all__ = ["serving"]
