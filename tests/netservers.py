"""Loopback HTTP(S) servers for the tests of guarded fetches: they count what reaches them.

A `LoopbackServer` binds one loopback address (127.0.0.1, or 127.0.0.2 to stand for a host the
policy opens), serves fixed routes (a body, a redirect, a slow body) and records every request it
receives with its Host header and, over TLS, the name the client asked for (SNI). Tests assert on
`hits` to prove a refused address was never contacted. `tls_pair` issues a CA and a serving
certificate for given host names.
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.controlplane.cluster import issue_certificate


@dataclass(frozen=True)
class Hit:
    """One request a server received."""

    path: str
    host: str
    sni: str | None


Route = tuple[int, dict[str, str], bytes] | Callable[[], tuple[int, dict[str, str], bytes]]


class LoopbackServer:
    """A threaded HTTP server on `address` serving `routes` (path -> (status, headers, body)); 404 elsewhere."""

    def __init__(self, address: str = "127.0.0.1", routes: dict[str, Route] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.hits: list[Hit] = []
        self._sni: dict[int, str | None] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                sni = getattr(self.connection, "sandlot_sni", None)
                server.hits.append(Hit(self.path, self.headers.get("Host", ""), sni))
                route = server.routes.get(self.path)
                status, headers, body = (route() if callable(route) else route) if route else (404, {}, b"no")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))

            def remember_sni(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
                sock.sandlot_sni = name  # type: ignore[attr-defined]

            ctx.sni_callback = remember_sni
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.address, self.port = address, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str = "/", host: str | None = None) -> str:
        """Return the URL of `path` on this server, optionally under another host name."""
        return f"{self.scheme}://{host or self.address}:{self.port}{path}"

    def paths(self) -> list[str]:
        """Return the paths requested so far, in order."""
        return [h.path for h in self.hits]


def body(text: str, content_type: str = "application/yaml") -> Route:
    """Return a route that serves `text`."""
    return (200, {"Content-Type": content_type}, text.encode())


def redirect(location: str, status: int = 302) -> Route:
    """Return a route that redirects to `location`."""
    return (status, {"Location": location}, b"")


def slow(seconds: float) -> Route:
    """Return a route that answers only after `seconds`."""
    def answer() -> tuple[int, dict[str, str], bytes]:
        time.sleep(seconds)
        return (200, {}, b"late")
    return answer


def tls_pair(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """Write a CA and a serving certificate for `names`; return (ca.pem, cert.pem, key.pem)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netguard-test-ca")])
    ca = issue_certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]), key.public_key(),
                             ca_name, ca_key, sans=[x509.DNSName(n) for n in names])
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths
