"""Argument types and choices shared by the sub-commands (argparse only, nothing else loaded)."""

from __future__ import annotations

import argparse

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _port(text: str, lowest: int) -> int:
    """Parse a TCP port from `lowest` to 65535, with a message that names the range."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number ({lowest}-65535)") from None
    if not lowest <= value <= 65535:
        zero = ", or 0 for any free port" if lowest == 0 else ""
        raise argparse.ArgumentTypeError(f"{value} is not a port number: use 1-65535{zero}")
    return value


def port_number(text: str) -> int:
    """Parse a TCP port (1-65535) for argparse."""
    return _port(text, 1)


def listen_port(text: str) -> int:
    """Parse a port to listen on for argparse: 0-65535, where 0 means any free port."""
    return _port(text, 0)
