"""A real API for the drift proxy to forward to: an HTTP server on 127.0.0.1 that breaks
tests/drift/fixtures/pets.yaml in known ways, and remembers every request it got.

| request | answer |
|---|---|
| GET /pets | 200, three pets: one fits, one has a string id, an undocumented status value, an undocumented property and a bad date, one lacks `status`; no X-Request-Id header (required) |
| GET /pets/1 | 200, a pet that fits the spec, with a Set-Cookie |
| GET /pets/2 | 500 text/html (undocumented status) |
| GET /pets/3 | 200 text/html (undocumented media type) |
| GET /pets/4 | 200 application/json that does not parse |
| GET /pets/6 | 200, a pet that fits, one tag holding a test key (redacted when recorded) |
| GET /pets/7 | 200, a pet that fits, gzip-compressed |
| GET /pets/9 | 404 with `message` instead of the documented `error` |
| DELETE /pets/1 | 204 |
| POST /pets | 201, the pet created from the body's name |
| GET /admin/stats | 200 (an operation the spec does not document) |
| GET /slow | waits until `release` is set (at most 10 s), then 200 |
| anything else | 404 {"error": "no route"} |
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PET = {"id": 1, "name": "Rex", "status": "available"}
LIST = {"data": [
    PET,
    {"id": "7", "name": "Tom", "status": "pending", "owner_email": "tom@example.com", "born": "yesterday"},
    {"id": 3, "name": "Kit"},
]}
JSON = "application/json"


class PetsApi:
    """The server and what it saw (see the module docstring)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream.requests.append({"method": self.command, "path": self.path, "body": body,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, headers, payload = upstream.answer(self.command, self.path.split("?")[0], body)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Return (status, headers, body) for a request (the table in the module docstring)."""
        def js(status: int, value: object, *headers: tuple[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
            return status, [("Content-Type", JSON), *headers], json.dumps(value).encode()

        if method in ("GET", "HEAD"):
            if path == "/pets":
                return js(200, LIST)
            if path == "/pets/1":
                return js(200, PET, ("Set-Cookie", "session=s3cr3t; HttpOnly"), ("X-Request-Id", "req_1"))
            if path == "/pets/2":
                return 500, [("Content-Type", "text/html")], b"<h1>Internal Server Error</h1>"
            if path == "/pets/3":
                return 200, [("Content-Type", "text/html")], b"<p>Rex</p>"
            if path == "/pets/4":
                return 200, [("Content-Type", JSON)], b'{"id": 4,'
            if path == "/pets/6":
                return js(200, {"id": 6, "name": "Sec", "status": "sold", "tags": ["sk_test_abcdefghijklmnop"]})
            if path == "/pets/7":
                return 200, [("Content-Type", JSON), ("Content-Encoding", "gzip")], \
                    gzip.compress(json.dumps({"id": 7, "name": "Zip", "status": "sold"}).encode())
            if path == "/pets/9":
                return js(404, {"message": "gone"})
            if path == "/admin/stats":
                return js(200, {"ok": True})
            if path == "/slow":
                self.release.wait(10)
                return js(200, {"slow": True})
        if method == "DELETE" and path == "/pets/1":
            return 204, [], b""
        if method == "POST" and path == "/pets":
            name = json.loads(body or b"{}").get("name", "")
            return js(201, {"id": 10, "name": name, "status": "available"})
        return js(404, {"error": "no route"})

    def __enter__(self) -> PetsApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
