"""GraphQL stubs on 127.0.0.1 for the tests: the composed app in a uvicorn thread, and a small
client for GraphQL over HTTP and graphql-transport-ws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from sandlot.http.compose import build_app
from sandlot.state.config import SandboxConfig, config_from_dict
from sandlot.state.fixtures import parse_fixtures
from tests.scenarios.servers import UvicornThread

FIXTURES = Path(__file__).parent / "fixtures"
SHOP = FIXTURES / "shop.graphql"
ADMIN = "adm_graphql_tests"


@contextmanager
def serve(schema: Path | list[Path] = SHOP, *, db: Path | None = None, config: dict[str, Any] | None = None,
          fixtures: Path | None = None, examples: Path | None = None, scenario: str | None = None,
          clock: Any = None) -> Iterator[Stub]:
    """Serve a GraphQL schema (stateful with `db`) on an ephemeral port; yield a client for it."""
    settings: SandboxConfig = config_from_dict(config or {}, "<test config>")
    parsed = parse_fixtures(fixtures.read_text(), str(fixtures)) if fixtures else None
    spec: str | list[str] = [str(s) for s in schema] if isinstance(schema, list) else str(schema)
    extra: dict[str, Any] = {"base_clock": clock} if clock is not None else {}
    app = build_app(spec, db=db, config=settings.with_admin_token(ADMIN) if db else settings, fixtures=parsed,
                    examples=str(examples) if examples else None, default_scenario=scenario, **extra)
    try:
        with UvicornThread(app) as server:
            yield Stub(server.url, app)
    finally:
        app.pipeline.close()


class Stub:
    """A running GraphQL stub: its root URL and GraphQL requests over HTTP."""

    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app
        self.endpoint = url + "/graphql"

    def post(self, query: str, variables: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None,
             operation: str | None = None, accept: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation is not None:
            body["operationName"] = operation
        sent = {"content-type": "application/json", **(headers or {})}
        if accept is not None:
            sent["accept"] = accept
        return httpx.post(self.endpoint, content=json.dumps(body), headers=sent, timeout=10)

    def data(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        response = self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def admin(self, method: str, route: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {key or ADMIN}"}
        response = httpx.request(method, f"{self.url}/__sandlot/{route}", json=body, headers=headers, timeout=10)
        assert response.status_code < 300, response.text
        return response.json()
