"""Shared fixtures for the mock engine tests: spec locations and a live server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandlot.http.app import HttpApp
from sandlot.http.compose import build_app
from sandlot.http.serve import make_server
from sandlot.mock.engine import Engine
from tests.ports import free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_SPECS = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs"


def shared_spec(relative: str) -> Path:
    """Return a spec under ../shared/specs, skipping the test when the checkout lacks it."""
    path = (SHARED_SPECS / relative).resolve()
    if not path.exists():
        pytest.skip(f"shared spec {relative} is not present at {SHARED_SPECS} (clone ../shared next to the repo)")
    return path


class LiveServer:
    """A uvicorn server running an app in a background thread on an ephemeral port."""

    def __init__(self, app: HttpApp) -> None:
        self.app = app
        self.port = free_port()
        self.server = make_server(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                  lifespan="on")  # the server `sandlot mock` runs
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the mock server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def shop_engine() -> Engine:
    return Engine.from_source(str(FIXTURES / "shop.yaml"))


@pytest.fixture
def serve() -> Iterator[object]:
    """Start live servers for specs: `serve(spec_path, watch=False)` -> LiveServer (stopped after the test)."""
    running: list[LiveServer] = []

    def start(spec: Path | str, *, watch: bool = False, seed: int = 0, lenient: bool = False) -> LiveServer:
        server = LiveServer(build_app(str(spec), seed=seed, watch=watch, lenient=lenient)).__enter__()
        running.append(server)
        return server

    yield start
    for server in running:
        server.__exit__(None, None, None)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c
