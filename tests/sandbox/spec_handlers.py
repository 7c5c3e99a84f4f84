"""Stateful handlers over the shared real-world specs, for the conformance tests: load a
shared spec (skip when absent), open a handler with one tenant key, and check a response
against the operation's documented response schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandlot.http.pipeline import Pipeline
from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.state.config import SandboxConfig
from sandlot.state.sqlite_store import SQLiteStore

from .conftest import stateful_pipeline

SHARED_SPECS = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs"


def shared_engine(relative: str) -> Engine:
    """Load a spec under /work/shared/specs, or skip the test saying which one is absent."""
    path = SHARED_SPECS / relative
    if not path.exists():
        pytest.skip(f"the shared spec {path} is absent")
    return Engine.from_source(str(path))


def handler_with_key(engine: Engine, db: Path) -> tuple[Pipeline, str]:
    """Compose the stateful stages over a new state file and return them with one tenant's key."""
    handler = stateful_pipeline(engine, SQLiteStore(db), SandboxConfig(admin_token="adm_x"))
    _, key = handler.state.issue_key(name="t")
    return handler, key.secret


def assert_valid(engine: Engine, method: str, path: str, response: MockResponse) -> None:
    """Fail unless a 2xx response succeeded and its body validates against the operation's
    documented response schema."""
    assert 200 <= response.status < 300, response.body
    if not response.body:
        return
    match = engine.match(MockRequest(method, path, "", {}, b""))
    schema = engine.response_schema(match.operation, response.status)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in
              engine.index.validator(schema, "response").iter_errors(json.loads(response.body))]
    assert not errors, f"{method} {path} -> {response.status} does not validate: {errors[:5]}"
