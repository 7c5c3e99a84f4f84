"""What an OpenAPI stub loads before its first answer: not the GraphQL stack, not Faker.

Start-up (first answer <= 1 s on specs up to 15 MB, docs/performance.md) depends on it: graphql-core
and sandlot's GraphQL modules cost about 0.1 s to import, Faker about 0.25 s with its provider scan.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_an_openapi_stub_answers_without_importing_graphql_or_faker(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {"/people/{id}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                "type": "object", "required": ["first_name", "email", "city"],
                "properties": {"first_name": {"type": "string"}, "email": {"type": "string", "format": "email"},
                               "city": {"type": "string"}}}}}}}}}}}))
    code = (
        "import sys, json\n"
        "from sandlot.http.compose import build_app\n"
        "from sandlot.mock.messages import MockRequest\n"
        f"app = build_app({str(spec)!r})\n"
        "answer = app.pipeline.handle(MockRequest('GET', '/people/7', '', {}, b''))\n"
        "body = json.loads(answer.body)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('graphql', 'faker')\n"
        "                or m.startswith('sandlot.graphql'))\n"
        "print(json.dumps({'status': answer.status, 'body': body, 'loaded': loaded}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    assert result["body"]["first_name"][:1].isupper() and "@" in result["body"]["email"]  # realistic words
    assert result["loaded"] == []


def test_a_graphql_stub_still_composes(tmp_path: Path) -> None:
    schema = tmp_path / "schema.graphql"
    schema.write_text("type Query { hello: String }\n")
    code = (
        "from sandlot.http.compose import build_app\n"
        "from sandlot.mock.messages import MockRequest\n"
        f"app = build_app({str(schema)!r})\n"
        "answer = app.pipeline.handle(MockRequest('POST', '/graphql', '', {'content-type': 'application/json'},\n"
        "                                         b'{\"query\": \"{ hello }\"}'))\n"
        "print(answer.status, answer.body.decode())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    status, body = done.stdout.strip().split(" ", 1)
    assert status == "200" and '"hello"' in body
