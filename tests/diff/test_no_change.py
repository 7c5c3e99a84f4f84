"""Rewrites that change how a spec is written but not what it accepts or returns: zero changes.

These are the false positives users of other diff tools report (oasdiff#702, #169, #1037:
oneOf/allOf restructuring), plus refs, renames, recursion and prose.
"""

from __future__ import annotations

import copy

import pytest

from sandlot.diff.openapi import diff_openapi

from .helpers import TODAY, changed, document, get, json_body, operation, response

PET = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
CAT = {"type": "object", "required": ["meow"], "properties": {"meow": {"type": "boolean"}}}
DOG = {"type": "object", "required": ["bark"], "properties": {"bark": {"type": "integer"}}}


def _both(schema, components=None):
    """A document using `schema` as a request body and as a response body."""
    return document({"/a": {"post": operation(requestBody=json_body(schema, required=True), responses=response(schema))}},
                    components={"schemas": components} if components else None)


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


NODE = {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": _ref("Node")}}}
TREE = {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": _ref("Tree")}}}

PAIRS = {
    "schema moved into components": (_both(PET), _both(_ref("Pet"), {"Pet": PET})),
    "component renamed": (_both(_ref("Pet"), {"Pet": PET}), _both(_ref("Animal"), {"Animal": PET})),
    "oneOf re-ordered": (_both({"oneOf": [CAT, DOG]}), _both({"oneOf": [DOG, CAT]})),
    "oneOf re-ordered and moved into renamed components": (
        _both({"oneOf": [_ref("Cat"), _ref("Dog")]}, {"Cat": CAT, "Dog": DOG}),
        _both({"oneOf": [_ref("Hound"), _ref("Kitten")]}, {"Kitten": CAT, "Hound": DOG})),
    "anyOf re-ordered": (_both({"anyOf": [CAT, DOG]}), _both({"anyOf": [DOG, CAT]})),
    "$ref wrapped in allOf to add a description": (
        _both(_ref("Pet"), {"Pet": PET}), _both({"allOf": [_ref("Pet")], "description": "a pet"}, {"Pet": PET})),
    "properties split into allOf of a base and an extension (#169, #702)": (
        _both({"type": "object", "required": ["id", "name"], "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}}}),
        _both({"allOf": [_ref("Base"), {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}]},
              {"Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}})),
    "allOf branches re-ordered": (
        _both({"allOf": [_ref("A"), _ref("B")]}, {"A": CAT, "B": DOG}),
        _both({"allOf": [_ref("B"), _ref("A")]}, {"A": CAT, "B": DOG})),
    "3.0 nullable written as a oneOf with null (3.1)": (
        _both({"type": "object", "nullable": True, "properties": {"id": {"type": "integer"}}}),
        _both({"oneOf": [{"type": "object", "properties": {"id": {"type": "integer"}}}, {"type": "null"}]})),
    "3.0 nullable written as a type list (3.1)": (
        _both({"type": "string", "nullable": True}), _both({"type": ["string", "null"]})),
    "nullable $ref: allOf + nullable vs anyOf with null": (
        _both({"allOf": [_ref("Pet")], "nullable": True}, {"Pet": PET}),
        _both({"anyOf": [_ref("Pet"), {"type": "null"}]}, {"Pet": PET})),
    "enum written as oneOf of consts": (
        _both({"type": "string", "enum": ["a", "b"]}),
        _both({"oneOf": [{"const": "a", "title": "A"}, {"const": "b", "title": "B"}], "type": "string"})),
    "single-branch oneOf": (_both(PET), _both({"oneOf": [PET]})),
    "recursive schema renamed": (_both(_ref("Node"), {"Node": NODE}), _both(_ref("Tree"), {"Tree": TREE})),
    "mutually recursive schemas renamed": (
        _both(_ref("A"), {"A": {"type": "object", "properties": {"b": _ref("B")}},
                          "B": {"type": "object", "properties": {"a": _ref("A"), "n": {"type": "integer"}}}}),
        _both(_ref("X"), {"X": {"type": "object", "properties": {"b": _ref("Y")}},
                          "Y": {"type": "object", "properties": {"a": _ref("X"), "n": {"type": "integer"}}}})),
    "descriptions, examples and titles changed": (
        _both({**PET, "description": "old", "example": {"id": 1}}),
        _both({**PET, "description": "new", "title": "Pet", "example": {"id": 2}})),
    "int64 format stated": (_both({"type": "integer"}), _both({"type": "integer", "format": "int64"})),
    "path parameter renamed": (
        document({"/pets/{id}": {"get": operation(parameters=[{"name": "id", "in": "path", "required": True,
                                                              "schema": {"type": "integer"}}])}}),
        document({"/pets/{petId}": {"get": operation(parameters=[{"name": "petId", "in": "path", "required": True,
                                                                 "schema": {"type": "integer"}}])}})),
    "parameter moved into components and to the path item": (
        get(parameters=[{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}]),
        document({"/a": {"parameters": [{"$ref": "#/components/parameters/Q"}], "get": operation()}},
                 components={"parameters": {"Q": {"name": "q", "in": "query", "required": True,
                                                  "schema": {"type": "string"}}}})),
    "request body and response moved into components": (
        document({"/a": {"post": operation(requestBody=json_body(PET), responses=response(PET))}}),
        document({"/a": {"post": operation(requestBody={"$ref": "#/components/requestBodies/P"},
                                           responses={"200": {"$ref": "#/components/responses/P"}})}},
                 components={"requestBodies": {"P": json_body(PET)},
                             "responses": {"P": {"description": "ok", "content": {"application/json": {"schema": PET}}}}})),
    "security scheme renamed": (
        document({"/a": {"get": operation(security=[{"key": []}])}},
                 components={"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}}),
        document({"/a": {"get": operation(security=[{"apiKey": []}])}},
                 components={"securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Key",
                                                            "description": "the key"}}})),
    "security moved from the operation to the document": (
        document({"/a": {"get": operation(security=[{"key": []}])}},
                 components={"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}}),
        document({"/a": {"get": operation()}}, security=[{"key": []}],
                 components={"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}})),
    "one scheme with different scopes per alternative, re-ordered (DigitalOcean's spec)": (
        document({"/a": {"get": operation(security=[{"o": ["read"]}, {"o": ["write"]}])}},
                 components={"securitySchemes": {"o": {"type": "http", "scheme": "bearer"}}}),
        document({"/a": {"get": operation(security=[{"o": ["write"]}, {"o": ["read"]}])}},
                 components={"securitySchemes": {"o": {"type": "http", "scheme": "bearer"}}})),
    "path item moved behind a $ref": (
        get(), document({"/a": {"$ref": "#/components/pathItems/A"}}, version="3.1.0",
                        components={"pathItems": {"A": {"get": operation()}}})),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_rewrites_that_keep_the_contract_are_no_change(name):
    old, new = PAIRS[name]
    assert changed(old, new) == []
    assert changed(new, old) == []


def test_a_change_inside_a_recursive_schema_is_reported_once():
    new_node = copy.deepcopy(TREE)
    new_node["properties"]["name"] = {"type": "integer"}
    found = diff_openapi(_both(_ref("Node"), {"Node": NODE}), _both(_ref("Tree"), {"Tree": new_node}), TODAY)
    assert [(c.id, c.message) for c in found] == [
        ("request-property-type-changed", "request property 'name' changed type from string to integer; "
                                          "values sent before may be refused"),
        ("response-property-type-changed", "response property 'name' of 200 changed type from string to integer; "
                                           "clients parsing string break"),
    ]
    assert found[0].new.pointer == "/components/schemas/Tree/properties/name"


def test_a_changed_oneof_branch_is_paired_with_its_old_self_not_reported_added_and_removed():
    new_dog = {**DOG, "properties": {"bark": {"type": "string"}}}
    found = changed(_both({"oneOf": [_ref("Cat"), _ref("Dog")]}, {"Cat": CAT, "Dog": DOG}),
                    _both({"oneOf": [_ref("Dog"), _ref("Cat")]}, {"Cat": CAT, "Dog": new_dog}))
    assert found == [("request-property-type-changed", "error"), ("response-property-type-changed", "error")]


def test_a_renamed_and_changed_branch_is_paired_by_its_discriminator_value():
    old = _both({"oneOf": [_ref("Cat"), _ref("Dog")], "discriminator": {"propertyName": "kind", "mapping": {
        "cat": "#/components/schemas/Cat", "dog": "#/components/schemas/Dog"}}}, {"Cat": CAT, "Dog": DOG})
    hound = {**DOG, "properties": {"bark": {"type": "integer", "maximum": 3}}}
    new = _both({"oneOf": [_ref("Kitten"), _ref("Hound")], "discriminator": {"propertyName": "kind", "mapping": {
        "cat": "#/components/schemas/Kitten", "dog": "#/components/schemas/Hound"}}}, {"Kitten": CAT, "Hound": hound})
    found = diff_openapi(old, new, TODAY)
    assert [(c.id, c.message) for c in found] == [
        ("request-property-max-decreased", "request property 'oneOf[Hound]/bark' maximum is now 3 (was none)")]


def test_a_new_oneof_branch_that_an_old_one_already_allowed_is_no_response_change():
    # The new branch returns a subset of what the old open string allowed.
    old = _both({"oneOf": [{"type": "string"}, {"type": "integer"}]})
    new = _both({"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "string", "format": "date"}]})
    assert changed(old, new) == []


def test_a_request_branch_merged_into_another_is_still_accepted():
    # GitHub's "add labels" body: two branches (names, objects) became one accepting both.
    strings = {"type": "object", "properties": {"labels": {"type": "array", "items": {"type": "string"}}}}
    objects = {"type": "object", "properties": {"labels": {"type": "array", "items": {
        "type": "object", "properties": {"name": {"type": "string"}}}}}}
    merged = {"type": "object", "properties": {"labels": {"type": "array", "items": {"oneOf": [
        {"type": "string"}, {"type": "object", "properties": {"name": {"type": "string"}, "why": {"type": "string"}}}]}}}}
    old = document({"/a": {"post": operation(requestBody=json_body({"oneOf": [strings, objects]}))}})
    new = document({"/a": {"post": operation(requestBody=json_body({"oneOf": [merged]}))}})
    assert changed(old, new) == []
