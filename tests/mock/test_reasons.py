"""The refusal's real reason in the documented error shape (mock/reasons.py), on exact outputs,
and through the engine: a documented error schema that Sandlot's problem document does not fit
gets the reason in its own fields, not generated text."""

from __future__ import annotations

import json

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest
from sandlot.mock.reasons import explain_error
from sandlot.openapi.loader import Spec


def test_realworld_jsonapi_and_plain_shapes() -> None:
    assert explain_error({"errors": {"body": ["lorem"]}}, 401, "email or password is invalid") == \
        {"errors": {"body": ["email or password is invalid"]}}
    assert explain_error({"errors": [{"status": "500", "title": "x", "detail": "y", "code": "z"}]}, 422,
                         "the body is invalid", ["/data/attributes/body: too long", "/data/type: wrong"]) == {
        "errors": [{"status": "422", "title": "Unprocessable Entity", "detail": "/data/attributes/body: too long",
                    "code": "z"},
                   {"status": "422", "title": "Unprocessable Entity", "detail": "/data/type: wrong", "code": "z"}]}
    assert explain_error({"code": 20404, "message": "m", "more_info": "u", "status": 500}, 404, "no such call") == \
        {"code": 20404, "message": "no such call", "more_info": "u", "status": 404}
    assert explain_error({"error": {"message": "m", "statusCode": 1}}, 403, "not yours") == \
        {"error": {"message": "not yours", "statusCode": 403}}
    assert explain_error(["a", "b"], 400, "bad", ["one", "two"]) == ["one", "two"]
    assert explain_error("text", 400, "bad") == "text"


SPEC = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/things": {"post": {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
    "responses": {"201": {"description": "made"}, "422": {"description": "invalid", "content": {"application/json": {
        "schema": {"type": "object", "required": ["errors"], "additionalProperties": False, "properties": {
            "errors": {"type": "object", "required": ["body"], "properties": {
                "body": {"type": "array", "items": {"type": "string"}}}}}}}}}}}}}}


def test_the_engine_answers_the_documented_shape_with_the_reason() -> None:
    engine = Engine(Spec(SPEC, "<test>", "3.0.3"))
    refused = engine.handle(MockRequest("POST", "/things", "", {"content-type": "application/json"}, b"{}"))
    assert refused.status == 422
    assert json.loads(refused.body) == {"errors": {"body": ["'name' is a required property"]}}
