"""Fixtures for the request journal and inspector tests: stubs served over real HTTP on 127.0.0.1
(stateless and stateful, the payments example and the scenario shop) in a uvicorn thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandlot.http.app import HttpApp
from sandlot.http.compose import build_app, spec_source
from sandlot.state.config import SandboxConfig
from sandlot.state.fixtures import parse_fixtures
from sandlot.util.sources import read_file_or_configmap
from tests.scenarios.servers import UvicornThread

REPO = Path(__file__).resolve().parents[2]
PAYMENTS = REPO / "examples" / "payments" / "payments-openapi.yaml"
PAYMENT_FIXTURES = REPO / "examples" / "payments" / "payments-fixtures.yaml"
SHOP = REPO / "tests" / "scenarios" / "fixtures" / "shop.yaml"
ADMIN = "adm_journal_tests"


class Stub:
    """A served stub: its root URL, app, and clients for a key or the admin token."""

    def __init__(self, server: UvicornThread, app: HttpApp) -> None:
        self.server = server
        self.url = server.url
        self.app = app
        self.stopped = False

    def stop(self) -> None:
        """Stop serving and close the pipeline (as Ctrl-C does: the buffered journal is written)."""
        if not self.stopped:
            self.stopped = True
            self.server.__exit__()
            self.app.pipeline.close()

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        """Return a client sending `key` as a bearer token (none: no credential)."""
        headers = {"authorization": f"Bearer {key}"} if key else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0, **kwargs)

    def admin(self) -> httpx.Client:
        return self.client(ADMIN)

    def new_key(self, name: str = "t") -> tuple[str, str]:
        """Issue a key for a new tenant (stateful only); return (tenant, key)."""
        assert self.app.pipeline.state is not None
        tenant, key = self.app.pipeline.state.issue_key(name=name)
        return tenant, key.secret


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start a stub: `serve(stateful=True)` over the payments example with its fixtures, else
    stateless; keyword arguments go to `build_app` (`spec`, `journal`, `config` ...)."""
    started: list[Stub] = []

    def start(spec: Path = PAYMENTS, *, stateful: bool = False, **kwargs: Any) -> Stub:
        source = spec_source(str(spec), tmp_path / f"spec{len(started)}")
        config = kwargs.pop("config", None) or SandboxConfig(admin_token=ADMIN)
        if stateful:
            kwargs.setdefault("db", tmp_path / f"state{len(started)}.db")
            kwargs.setdefault("fixtures", parse_fixtures(read_file_or_configmap(str(PAYMENT_FIXTURES))[0],
                                                         str(PAYMENT_FIXTURES)))
        kwargs.setdefault("admin_token", ADMIN)
        app = build_app(source, config=config, **kwargs)
        if stateful and kwargs.get("fixtures") is not None:
            assert app.pipeline.state is not None
        stub = Stub(UvicornThread(app).__enter__(), app)
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.stop()
