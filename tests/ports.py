"""A free loopback port for tests that start servers (shared by every test directory)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Return a port that was free a moment ago on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports_in_a_row(count: int, attempts: int = 50) -> int:
    """Return the first of `count` consecutive ports that were all free a moment ago on 127.0.0.1.

    `sandlot up --port N` serves its downstreams on N, N+1, ...: reserving only N let a busy
    machine hand N+1 to someone else.
    """
    for _ in range(attempts):
        first = free_port()
        socks = []
        try:
            for offset in range(count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", first + offset))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1 after {attempts} attempts")
