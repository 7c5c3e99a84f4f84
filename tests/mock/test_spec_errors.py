"""Specs that cannot be served stop start-up and `--check` with exit 2 and a message naming
the file, the JSON pointer and the problem: never a 500 later, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandlot.openapi.loader import SpecError, load_spec

from .test_server import _sandlot

MISSING = "#/components/schemas/Nope"


def _doc(operation: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"post": operation}},
            "components": {"schemas": {"Ok": {"type": "string"}}}}


_OK_RESPONSES = {"200": {"description": "ok"}}
# Where a dangling local ref may hide, and the JSON pointer of that `$ref`.
BROKEN = {
    "response schema": (
        {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": MISSING}}}}}},
        "/paths/~1a/post/responses/200/content/application~1json/schema/$ref"),
    "deep in a schema": (
        {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"x": {"type": "array", "items": {"allOf": [{"$ref": MISSING}]}}}}}}}}},
        "/paths/~1a/post/responses/200/content/application~1json/schema/properties/x/items/allOf/0/$ref"),
    "parameter": (
        {"parameters": [{"$ref": "#/components/parameters/Nope"}], "responses": _OK_RESPONSES},
        "/paths/~1a/post/parameters/0/$ref"),
    "request body": (
        {"requestBody": {"$ref": "#/components/requestBodies/Nope"}, "responses": _OK_RESPONSES},
        "/paths/~1a/post/requestBody/$ref"),
    "response": (
        {"responses": {"200": {"$ref": "#/components/responses/Nope"}}},
        "/paths/~1a/post/responses/200/$ref"),
}


def _write(tmp_path: Path, doc: dict[str, Any], suffix: str) -> Path:
    path = tmp_path / f"spec{suffix}"
    path.write_text(json.dumps(doc) if suffix == ".json" else yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize("where", list(BROKEN))
def test_dangling_local_ref_is_refused_at_load(tmp_path: Path, where: str, suffix: str) -> None:
    operation, pointer = BROKEN[where]
    path = _write(tmp_path, _doc(operation), suffix)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.file == str(path)
    assert err.value.pointer == pointer
    assert "does not resolve" in str(err.value) and "has nothing at /components/" in str(err.value)


def test_escaped_slashes_in_a_json_ref_still_resolve(tmp_path: Path) -> None:
    """`"#\\/components\\/schemas\\/Ok"` is valid JSON for `#/components/schemas/Ok` (PHP writes it)."""
    doc = _doc({"responses": {"200": {"description": "ok", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Ok"}}}}}})
    path = tmp_path / "escaped.json"
    path.write_text(json.dumps(doc).replace("/", "\\/"))
    assert load_spec(path).document["components"]["schemas"]["Ok"] == {"type": "string"}


@pytest.mark.parametrize("check", [True, False], ids=["check", "serve"])
def test_cli_refuses_a_dangling_ref_with_exit_2_and_no_traceback(tmp_path: Path, check: bool) -> None:
    operation, pointer = BROKEN["deep in a schema"]
    path = _write(tmp_path, _doc(operation), ".yaml")
    res = _sandlot(*(["--check"] if check else ["--port", "1", "--no-watch"]), str(path))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert str(path) in res.stderr and pointer in res.stderr and "/components/schemas/Nope" in res.stderr


def test_check_turns_a_validator_crash_into_a_spec_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the meta-schema validator raises, `--check` reports it as a SpecError naming the file."""
    import openapi_spec_validator
    from referencing.exceptions import PointerToNowhere
    from referencing.jsonschema import DRAFT4

    from sandlot.mock.check import check_spec

    def crash(document: Any) -> None:
        raise PointerToNowhere(ref="/x", resource=DRAFT4.create_resource({}))

    monkeypatch.setattr(openapi_spec_validator, "validate", crash)
    path = _write(tmp_path, _doc({"responses": _OK_RESPONSES}), ".yaml")
    with pytest.raises(SpecError) as err:
        check_spec(str(path))
    assert err.value.file == str(path) and "PointerToNowhere" in str(err.value)
