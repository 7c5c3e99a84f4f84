"""Loading and bundling: multi-file refs, recursion, and errors that name file + pointer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandlot.openapi.loader import BUNDLE_KEY, SpecError, iter_operations, load_spec, resolve_pointer

from .conftest import FIXTURES, shared_spec


def _all_refs(node: object) -> list[str]:
    refs: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                refs.append(item["$ref"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return refs


def test_multi_file_spec_is_bundled_with_local_refs_only() -> None:
    spec = load_spec(FIXTURES / "multi" / "root.yaml")
    refs = _all_refs(spec.document)
    assert refs and all(r.startswith("#/") for r in refs)
    for ref in refs:
        resolve_pointer(spec.document, ref[1:])  # every ref resolves inside the one document
    bundled = spec.document[BUNDLE_KEY]
    # the recursive pet schema stays a reference to itself, it is not expanded
    assert bundled["pet"]["properties"]["parent"] == {"$ref": f"#/{BUNDLE_KEY}/pet"}
    assert bundled["owner"]["properties"]["pets"]["items"] == {"$ref": f"#/{BUNDLE_KEY}/pet"}
    # a ref from another file back into the root file points at the root's own node
    assert bundled["owner"]["properties"]["local"] == {"$ref": "#/components/schemas/Local"}
    # YAML dates stay strings (examples must be JSON values)
    assert bundled["pet"]["properties"]["born"]["example"] == "2020-01-02"
    json.dumps(spec.document)  # no cycles, all JSON
    assert sorted(Path(f).name for f in spec.files) == ["owner.yaml", "pet.yaml", "pets.yaml", "root.yaml"]
    ops = sorted((m, p) for m, p, _, _ in iter_operations(spec.document))
    assert ops == [("GET", "/pets"), ("GET", "/pets/{id}"), ("POST", "/pets")]


def test_swagger_2_is_refused_with_a_way_out() -> None:
    with pytest.raises(SpecError) as err:
        load_spec(FIXTURES / "swagger2.yaml")
    message = str(err.value)
    assert "swagger2.yaml" in message and "/swagger" in message
    assert "Swagger 2.0 is not supported" in message and "convert" in message


def test_dangling_external_ref_names_file_pointer_and_target() -> None:
    with pytest.raises(SpecError) as err:
        load_spec(FIXTURES / "dangling.yaml")
    assert err.value.file.endswith("dangling.yaml")
    assert err.value.pointer == "/paths/~1a/get/responses/200/content/application~1json/schema/$ref"
    assert "other.yaml has nothing at /Missing" in str(err.value)


def test_malformed_yaml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(FIXTURES / "bad_yaml.yaml")
    assert str(err.value) == (f"{FIXTURES / 'bad_yaml.yaml'} line 3 column 1: invalid YAML: did not find expected "
                              "',' or ']' (while parsing a flow sequence started at line 2 column 12)")
    assert (err.value.line, err.value.column) == (3, 1)
    with pytest.raises(SpecError, match="cannot read the document"):
        load_spec(tmp_path / "nope.yaml")
    wrong = tmp_path / "v.json"
    wrong.write_text(json.dumps({"openapi": "2.5", "paths": {}}))
    with pytest.raises(SpecError, match=r"v\.json: at /openapi: `openapi` must be a 3\.0\.x or 3\.1\.x"):
        load_spec(wrong)


def test_syntax_errors_name_the_real_file_line_and_column(tmp_path: Path) -> None:
    """PyYAML's own message said `"<byte string>"` and spread over lines; JSON gave a char offset."""
    colon = tmp_path / "colon.yaml"
    colon.write_text("openapi: 3.0.0\ninfo: title: x\n")
    with pytest.raises(SpecError) as err:
        load_spec(colon)
    message = str(err.value)
    assert message == f"{colon} line 2 column 12: invalid YAML: mapping values are not allowed in this context"
    broken_json = tmp_path / "b.json"
    broken_json.write_text('{"openapi": "3.0.0",\n "paths" {}}')
    with pytest.raises(SpecError) as err:
        load_spec(broken_json)
    assert str(err.value) == f"{broken_json} line 2 column 10: invalid JSON: Expecting ':' delimiter"
    # in a referenced file: the referring file and pointer, then the broken file with its position
    (tmp_path / "part.yaml").write_text("Thing:\n  type: [string\n")
    root = tmp_path / "root.yaml"
    root.write_text("openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
                    "components: {schemas: {T: {$ref: 'part.yaml#/Thing'}}}\n")
    with pytest.raises(SpecError) as err:
        load_spec(root)
    assert err.value.file == str(root) and err.value.pointer == "/components/schemas/T/$ref"
    assert f"$ref to {tmp_path / 'part.yaml'} line 3 column 1 failed: invalid YAML: " in str(err.value)
    assert "<byte string>" not in str(err.value) and "\n" not in str(err.value)


def test_dangling_local_ref_in_json_is_found(tmp_path: Path) -> None:
    doc = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"},
           "paths": {"/a": {"get": {"responses": {"200": {"$ref": "#/components/responses/Nope"}}}}}}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.pointer == "/paths/~1a/get/responses/200/$ref"


def test_spec_from_url(serve, client) -> None:  # type: ignore[no-untyped-def]
    """A URL source: the mock serves its bundled spec, and a second mock loads it over HTTP."""
    first = serve(FIXTURES / "multi" / "root.yaml")
    spec = load_spec(first.url + "/__sandlot/openapi.json")
    assert spec.files == [] and spec.version == "3.1"
    assert sorted(p for _, p, _, _ in iter_operations(spec.document)) == ["/pets", "/pets", "/pets/{id}"]


def test_digitalocean_multi_file_spec_bundles_quickly() -> None:
    root = shared_spec("digitalocean/specification/DigitalOcean-public.v2.yaml")
    spec = load_spec(root)
    assert len(spec.files) > 1000
    refs = set(_all_refs(spec.document))
    assert all(r.startswith("#/") for r in refs)
    for ref in refs:
        resolve_pointer(spec.document, ref[1:])
    assert len(list(iter_operations(spec.document))) > 500
