"""Builders for the hand-made spec pairs of tests/diff: small OpenAPI documents as Python dicts.

Used by the rule tests (one pair per rule) and the no-change tests. `changed(old, new)` runs
the OpenAPI comparison on two documents with a fixed "today" (sunset dates are compared with it).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from sandlot.diff.openapi import diff_openapi

TODAY = dt.date(2026, 1, 1)
OK = {"200": {"description": "ok"}}
#: A small spec as YAML text, for the comparisons of texts (what the operator holds): GET /pets and GET /pets/{id}.
PETS_TEXT = """openapi: 3.0.3
info: {title: Pets, version: '1'}
paths:
  /pets:
    get:
      responses:
        '200': {description: ok}
  /pets/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        '200': {description: ok}
"""


def operation(**fields: Any) -> dict[str, Any]:
    """Return an operation object with a 200 response unless `responses` is given."""
    return {"responses": copy.deepcopy(OK), **fields}


def document(paths: dict[str, Any] | None = None, components: dict[str, Any] | None = None,
             version: str = "3.0.3", **top: Any) -> dict[str, Any]:
    """Return an OpenAPI document (default: GET /a only)."""
    doc = {"openapi": version, "info": {"title": "t", "version": "1"},
           "paths": paths if paths is not None else {"/a": {"get": operation()}}}
    if components:
        doc["components"] = components
    doc.update(top)
    return doc


def get(path: str = "/a", **fields: Any) -> dict[str, Any]:
    """Return a document with one GET operation at `path`."""
    return document({path: {"get": operation(**fields)}})


def json_body(schema: Any, **fields: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}, **fields}


def response(schema: Any, status: str = "200") -> dict[str, Any]:
    return {status: {"description": "ok", "content": {"application/json": {"schema": schema}}}}


def changed(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (id, level) of every change from old to new."""
    return [(c.id, c.level) for c in diff_openapi(old, new, TODAY)]


# Where a schema may sit: a function placing one schema into a document (with POST for requests).
def in_parameter(schema: Any) -> dict[str, Any]:
    return document({"/a": {"post": operation(parameters=[{"name": "p", "in": "query", "schema": schema}])}})


def in_request_body(schema: Any) -> dict[str, Any]:
    return document({"/a": {"post": operation(requestBody=json_body(schema))}})


def in_request_property(schema: Any) -> dict[str, Any]:
    return in_request_body({"type": "object", "properties": {"p": schema}})


def in_response_body(schema: Any) -> dict[str, Any]:
    return document({"/a": {"get": operation(responses=response(schema))}})


def in_response_property(schema: Any) -> dict[str, Any]:
    return in_response_body({"type": "object", "properties": {"p": schema}})


PLACES = {
    "request-parameter": in_parameter, "request-body": in_request_body, "request-property": in_request_property,
    "response-body": in_response_body, "response-property": in_response_property,
}
