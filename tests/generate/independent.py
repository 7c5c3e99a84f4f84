"""An independent check of generated values: the `openapi-schema-validator` package.

Used by the generator tests so that validity is judged by a third-party implementation of
OpenAPI 3.0/3.1 schema semantics (nullable, readOnly/writeOnly by direction, int32/int64 and
byte formats), not by the engine's own validators. Standard JSON Schema formats (date-time,
email, uuid, ipv4 ...) are asserted too. Also lists the schemas of a spec to try.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, OAS31Validator
from openapi_schema_validator._format import oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from sandlot.openapi.loader import resolve_pointer

SPECS = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs"


def shared(*parts: str) -> Path:
    """Return the path of a shared spec, skipping the test when the shared specs are absent."""
    path = SPECS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared spec {path} is not present (expected next to the repository)")
    return path
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_BASE = "urn:test:spec"


def load(path: Path) -> dict[str, Any]:
    """Return the parsed JSON or YAML document at `path`."""
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _format_checker() -> FormatChecker:
    """Return the 2020-12 format checks (RFC 3339 `time`) plus the OpenAPI ones (int32, byte ...).

    A bare `FormatChecker()` would check `time` the draft-3 way (no offset), which is wrong here.
    """
    checker = FormatChecker(formats=())
    oas_only = {k: oas30_format_checker.checkers[k] for k in ("int32", "int64", "float", "double", "byte")}
    checker.checkers = {**Draft202012Validator.FORMAT_CHECKER.checkers, **oas_only}
    return checker


class IndependentValidator:
    """Validate values against schema nodes of one document, per direction."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.v30 = str(document.get("openapi", "")).startswith("3.0")
        spec = DRAFT4 if self.v30 else DRAFT202012
        self.registry = Registry().with_resource(_BASE, Resource(contents=document, specification=spec))
        self.formats = _format_checker()

    def errors(self, schema: Any, value: Any, direction: str = "response") -> list[str]:
        """Return the validation errors of `value` against `schema` (empty when valid)."""
        if self.v30:
            cls = OAS30ReadValidator if direction == "response" else OAS30WriteValidator
        else:
            cls = OAS31Validator
        validator = cls(
            schema,
            registry=self.registry,
            _resolver=self.registry.resolver(base_uri=_BASE),
            format_checker=self.formats,
        )
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


def response_schemas(document: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield (label, schema) for every JSON response body schema of every operation."""
    for path, item in (document.get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, Mapping) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                while "$ref" in response:
                    response = resolve_pointer(document, response["$ref"][1:])
                for media, content in (response.get("content") or {}).items():
                    if "json" in media and "schema" in content:
                        yield f"{method.upper()} {path} {status} {media}", content["schema"]


def component_schemas(document: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield (name, {"$ref": ...}) for every schema under components/schemas."""
    for name in (document.get("components") or {}).get("schemas") or {}:
        yield name, {"$ref": f"#/components/schemas/{name}"}


def build_cases(schemas: Iterable[tuple[str, Any]], seeds: Iterable[int],
                directions: Iterable[str] = ("response",)) -> Iterator[tuple[str, Any, str, int, bool]]:
    """Yield (label, schema, direction, seed, prefer_examples): each build a generator test makes."""
    for label, schema in schemas:
        for direction in directions:
            for seed in seeds:
                for prefer_examples in (True, False):
                    yield label, schema, direction, seed, prefer_examples
