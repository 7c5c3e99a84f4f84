"""A free loopback port for tests that start servers (shared by every test directory)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a port that was free a moment ago on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
