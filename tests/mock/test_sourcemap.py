"""Pointers of a loaded spec mapped back to file and line: JSON, YAML, and files bundled from others."""

from __future__ import annotations

import json

from sandlot.openapi.loader import load_spec
from sandlot.openapi.sourcemap import SourceMap

from .conftest import FIXTURES

DOC = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
       "paths": {"/a/{id}": {"get": {"parameters": [{"name": "id", "in": "path"}, {"name": "q", "in": "query"}],
                                     "responses": {"200": {"description": "ok"}}}}}}


def test_json_pointers_find_the_line_of_their_key_or_item(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(DOC, indent=2))
    lines = path.read_text().splitlines()
    sources = SourceMap(load_spec(path))
    file, line = sources.locate("/paths/~1a~1{id}/get/parameters/1")
    assert file == str(path) and lines[line - 1].strip() == "{"  # the item starts on its own line
    assert lines[line].strip() == '"name": "q",'
    assert lines[sources.locate("/paths/~1a~1{id}/get/responses/200")[1] - 1].strip() == '"200": {'
    assert sources.locate("/paths/~1a~1{id}/post") == (str(path), None)


def test_compact_json_on_one_line_is_line_1(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(DOC))
    assert SourceMap(load_spec(path)).locate("/paths/~1a~1{id}/get/responses") == (str(path), 1)


def test_yaml_pointers_find_the_line_of_their_key(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n"
                    "        200:\n          description: ok\n")
    sources = SourceMap(load_spec(path))
    assert sources.locate("/paths/~1a/get") == (str(path), 5)
    assert sources.locate("/paths/~1a/get/responses/200/description") == (str(path), 8)  # int key `200:`


def test_bundled_pointers_are_placed_in_the_file_they_came_from():
    spec = load_spec(FIXTURES / "multi" / "root.yaml")
    sources = SourceMap(spec)
    pointer = next(f"/x-sandlot-bundled/{name}/properties/owner" for name, (loc, frag) in spec.origins.items()
                   if loc.endswith("schemas/pet.yaml") and frag == "")
    file, line = sources.locate(pointer)
    assert file.endswith("schemas/pet.yaml")
    assert (FIXTURES / "multi" / "schemas" / "pet.yaml").read_text().splitlines()[line - 1].startswith("  owner:")


def test_lines_can_be_switched_off_for_text_that_is_not_the_file(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text("kind: ConfigMap\n")
    spec = load_spec(path, text=json.dumps(DOC).encode())
    assert spec.source == str(path) and spec.document["paths"]
    assert SourceMap(spec, lines=False).locate("/paths") == (str(path), None)
