"""Shared fixtures for the stateful sandbox tests: the payments example's spec and fixtures
(read from the example's ConfigMaps, so the example itself is what gets tested), an engine,
a store in a temporary file, and a handler with a controllable clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sandlot.http.compose import compose
from sandlot.http.pipeline import Pipeline
from sandlot.http.reload import EngineHolder
from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.state.config import SandboxConfig
from sandlot.state.fixtures import parse_fixtures
from sandlot.state.journal import JournalStore
from sandlot.state.sqlite_store import SQLiteStore

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "payments"
ADMIN_TOKEN = "adm_test_token"


def configmap_value(path: Path, key: str) -> str:
    """Return data[key] of the ConfigMap in a manifest file."""
    return yaml.safe_load(path.read_text())["data"][key]


@pytest.fixture(scope="session")
def payments_spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "payments.yaml"
    path.write_text(configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
    return path


@pytest.fixture(scope="session")
def payments_document(payments_spec_path: Path) -> dict:
    return yaml.safe_load(payments_spec_path.read_text())


@pytest.fixture(scope="session")
def payments_fixtures() -> dict:
    return parse_fixtures(configmap_value(EXAMPLE / "payments-fixtures.yaml", "fixtures.yaml"))


@pytest.fixture(scope="session")
def engine(payments_spec_path: Path) -> Engine:
    return Engine.from_source(str(payments_spec_path))


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stateful_pipeline(engine: Engine, store: SQLiteStore, config: SandboxConfig | None = None, *,
                      fixtures: dict | None = None, clock=None) -> Pipeline:
    """Compose the stateful stages (admin, journal, simulation, state) over an engine, as `sandlot
    mock --stateful` does (the journal in the state file), for in-process calls."""
    kwargs = {"base_clock": clock} if clock is not None else {}
    config = config or SandboxConfig()
    return compose(EngineHolder(engine, "<test>"), config=config, store=store,
                   fixtures=fixtures, journal=JournalStore(store.path, config.journal), **kwargs)


class Client:
    """Calls a handler in-process with JSON bodies and one tenant's key."""

    def __init__(self, handler: Pipeline, key: str | None = None) -> None:
        self.handler = handler
        self.key = key

    def __call__(self, method: str, path: str, body: object = None, query: str = "",
                 headers: dict | None = None) -> MockResponse:
        sent = {"content-type": "application/json", "accept": "application/json"}
        if self.key:
            sent["authorization"] = f"Bearer {self.key}"
        sent.update(headers or {})
        raw = json.dumps(body).encode() if body is not None else b""
        prefix = "" if path.startswith("/__sandlot/") else "/v1"
        return self.handler.handle(MockRequest(method, prefix + path, query, sent, raw))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_handler(engine: Engine, payments_fixtures: dict, tmp_path: Path, clock: FakeClock):
    """Build a handler over a fresh store file; keyword arguments go to SandboxConfig."""
    handlers = []

    def make(db: Path | None = None, fixtures: dict | None = None, **config) -> Pipeline:
        store = SQLiteStore(db or tmp_path / "sandbox.db")
        try:
            handler = stateful_pipeline(engine, store, SandboxConfig(admin_token=ADMIN_TOKEN, **config),
                                        fixtures=payments_fixtures if fixtures is None else fixtures, clock=clock)
        except BaseException:
            store.close()
            raise
        handlers.append(handler)
        return handler

    yield make
    for handler in handlers:
        handler.close()


@pytest.fixture
def handler(make_handler) -> Pipeline:
    return make_handler()


@pytest.fixture
def client(handler: Pipeline) -> Client:
    _, key = handler.state.issue_key(name="alice")
    return Client(handler, key.secret)
