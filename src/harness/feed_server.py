"""A platform's feed served over HTTP from loopback, as the ingestion service fetches one.

Tests change what a platform says (a longer synopsis, a broken page) without touching the
committed feed files: they serve the documents they need and hand the URL to an ingestion run
(``source: {"type": "http", "url": …}``; a launched test stack accepts plain http from
loopback) or to the HTTP feed adapter.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FeedServer:
    """A real HTTP server answering ``?page=`` markers (``None``: no marker, the first page)
    with their JSON documents, or with a status code where the value is an int (404 for a
    marker not given). ``url`` is the feed's address; ``requests`` the paths asked for."""

    def __init__(self, pages: dict[str | None, Any], path: str = "/feeds/feed.json") -> None:
        self.pages = pages
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                page = parse_qs(urlsplit(self.path).query).get("page", [None])[0]
                body = outer.pages.get(page, 404)
                if isinstance(body, int):
                    self.send_response(body)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


__all__ = ["FeedServer"]
