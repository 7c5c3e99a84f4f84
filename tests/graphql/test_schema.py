"""Loading GraphQL schemas: SDL files (several merged), directories, URLs, ConfigMap manifests and
introspection results; duplicates merged or refused naming the places; `--check`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from graphql import get_introspection_query, graphql_sync

from sandlot.graphql.schema import SchemaError, check_schema, load_schema
from sandlot.util.introspection import looks_like_graphql

FIXTURES = Path(__file__).parent / "fixtures"
SHOP = FIXTURES / "shop.graphql"


def test_sdl_file_builds_with_the_directives_it_uses_declared() -> None:
    loaded = load_schema(str(SHOP))
    schema = loaded.schema
    assert schema.query_type is not None and "customer" in schema.query_type.fields
    assert {"fake", "examples", "listLength", "magic"} <= {d.name for d in schema.directives}
    assert loaded.files == [str(SHOP)] and not loaded.warnings and not loaded.introspection


def test_several_files_merge_identical_duplicates_with_a_warning_naming_file_and_lines(tmp_path: Path) -> None:
    b = FIXTURES / "split" / "b.graphql"
    loaded = load_schema([str(FIXTURES / "split" / "a.graphql"), str(b)])
    assert {"Book", "Author", "Query"} <= set(loaded.schema.type_map)
    assert any("Book is defined twice, identically" in w and "a.graphql line 5" in w and "b.graphql line 2" in w
               for w in loaded.warnings), loaded.warnings
    assert any(f"{b}: Author.name is defined twice, identically, at lines 9 and 10" in w for w in loaded.warnings)
    # a directory of .graphql files is the same schema
    assert set(load_schema(str(FIXTURES / "split")).schema.type_map) == set(loaded.schema.type_map)


def test_conflicting_duplicates_are_refused_naming_both_places(tmp_path: Path) -> None:
    one = tmp_path / "one.graphql"
    two = tmp_path / "two.graphql"
    one.write_text("type Query {\n  user: User\n}\ntype User {\n  id: ID!\n  age: Int\n}\n")
    two.write_text("type User {\n  id: ID!\n  age: String\n}\n")
    with pytest.raises(SchemaError) as caught:
        load_schema([str(one), str(two)])
    message = str(caught.value)
    assert f"at {one} line 4 and at {two} line 1" in message and "User is defined twice, differently" in message
    same_type = tmp_path / "fields.graphql"
    same_type.write_text("type Query {\n  a: Int\n  b: Int\n  a: String\n}\n")
    with pytest.raises(SchemaError, match=r"Query.a is defined twice, differently: at .*line 2 and at .*line 4"):
        load_schema(str(same_type))


def test_syntax_and_schema_errors_name_file_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "broken.graphql"
    broken.write_text("type Query {\n  a: Int\n  b: \n}\n")
    with pytest.raises(SchemaError) as caught:
        load_schema(str(broken))
    assert (caught.value.file, caught.value.line, caught.value.column) == (str(broken), 4, 1)
    assert str(caught.value).startswith(f"{broken} line 4 column 1: invalid GraphQL SDL: Syntax Error")
    unknown = tmp_path / "unknown.graphql"
    unknown.write_text("type Query {\n  user: Usr\n}\n")
    with pytest.raises(SchemaError) as caught:
        load_schema(str(unknown))
    assert (caught.value.line, caught.value.column) == (2, 9) and "Unknown type 'Usr'" in str(caught.value)


def test_introspection_json_is_served_as_the_same_schema(tmp_path: Path) -> None:
    schema = load_schema(str(SHOP)).schema
    result = graphql_sync(schema, get_introspection_query())
    target = tmp_path / "schema.json"
    target.write_text(json.dumps({"data": result.data}))
    assert looks_like_graphql(str(target))
    loaded = load_schema(str(target))
    assert loaded.introspection and set(loaded.schema.type_map) == set(schema.type_map)
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": {"nope": 1}}')
    with pytest.raises(SchemaError, match="not an introspection result"):
        load_schema(str(bad))


def test_configmap_manifest_and_url(tmp_path: Path) -> None:
    manifest = tmp_path / "shop-schema.yaml"
    text = SHOP.read_text()
    indented = "\n".join("    " + line for line in text.splitlines())
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\ndata:\n  schema.graphql: |\n{indented}\n")
    assert "Customer" in load_schema(str(manifest)).schema.type_map

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = text.encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/shop.graphql"
        loaded = load_schema(url)
        assert "Order" in loaded.schema.type_map and loaded.files == []
    finally:
        server.shutdown()


def test_check_reports_every_problem_with_its_place(tmp_path: Path) -> None:
    loaded, summary, problems = check_schema(str(SHOP))
    assert not problems and summary == "16 types, 7 query fields, 4 mutation fields, 3 subscription fields"
    bad = tmp_path / "bad.graphql"
    bad.write_text("interface Node { id: ID! }\ntype Query { node: Node }\n"
                   "type A implements Node { id: ID! @deprecated(reason: \"x\") }\n"
                   "type B implements Node { name: String }\n")
    _, _, problems = check_schema(str(bad))
    texts = [str(p) for p in problems]
    assert any(t.startswith(f"{bad} line 3 column") and "A.id must not be deprecated" in t for t in texts), texts
    assert any(t.startswith(f"{bad} line 2 column") or "Node.id expected but B does not provide it" in t
               for t in texts), texts


def test_cli_check_prints_warnings_and_errors_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sandlot.cli", "mock", "--check",
                           str(FIXTURES / "split" / "a.graphql"), str(FIXTURES / "split" / "b.graphql")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK: 3 types, 1 query fields"
    assert "warning:" in done.stderr and "Author.name is defined twice, identically, at lines 9 and 10" in done.stderr
    broken = tmp_path / "broken.graphql"
    broken.write_text("type Query {\n  a: Nope\n}\n")
    done = subprocess.run([sys.executable, "-m", "sandlot.cli", "mock", str(broken), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert f"error: {broken} line 2 column 6: Unknown type 'Nope'." in done.stderr
