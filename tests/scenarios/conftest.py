"""Fixtures for the scenario tests: the shop spec, and simulated mocks (stateless or stateful)
served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandlot.http.compose import build_app
from sandlot.state.config import SandboxConfig
from tests.scenarios.servers import UvicornThread

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHOP = FIXTURES / "shop.yaml"
ADMIN = "adm_scenarios"


class Running:
    """A simulated mock being served: its URL, simulation and (stateful) handler."""

    def __init__(self, server: UvicornThread, simulation: Any, handler: Any = None) -> None:
        self.server = server
        self.url = server.url
        self.simulation = simulation
        self.handler = handler

    def client(self, key: str | None = "sk_sbx_alice", **kwargs: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)

    def new_key(self, name: str = "t") -> str:
        """Issue a key for a new tenant (stateful only)."""
        _, key = self.handler.issue_key(name=name)
        return key.secret


@pytest.fixture
def serve_stateless() -> Iterator[Any]:
    """Start a stateless simulated mock of a spec; keyword arguments go to `build_app`."""
    started: list[UvicornThread] = []

    def start(spec: Path = SHOP, **kwargs: Any) -> Running:
        kwargs["config"] = SandboxConfig(simulation=dict(kwargs.pop("config", None) or {}))
        app = build_app(str(spec), **kwargs)
        server = UvicornThread(app).__enter__()
        started.append(server)
        return Running(server, app.pipeline.simulation)

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture
def serve_stateful(tmp_path: Path) -> Iterator[Any]:
    """Start a stateful simulated mock over a fresh SQLite file."""
    started: list[tuple[UvicornThread, Any]] = []

    def start(spec: Path = SHOP, retention_seconds: float | None = None, **kwargs: Any) -> Running:
        config = SandboxConfig(admin_token=ADMIN, retention_seconds=retention_seconds,
                               simulation=dict(kwargs.pop("config", None) or {}))
        app = build_app(str(spec), db=tmp_path / f"state{len(started)}.db", config=config, **kwargs)
        server = UvicornThread(app).__enter__()
        started.append((server, app.pipeline))
        return Running(server, app.pipeline.simulation, app.pipeline.state)

    yield start
    for server, pipeline in started:
        server.__exit__()
        pipeline.close()
