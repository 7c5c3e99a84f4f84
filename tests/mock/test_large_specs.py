"""The shared multi-file DigitalOcean and Twilio specs: load, route and answer a few operations."""

from __future__ import annotations

import base64

import pytest

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest

from .conftest import shared_spec


@pytest.fixture(scope="module")
def digitalocean() -> Engine:
    return Engine.from_source(str(shared_spec("digitalocean/specification/DigitalOcean-public.v2.yaml")))


def _conforms(engine: Engine, method: str, template: str, status: int, body: object) -> None:
    schema = engine.response_schema(engine.operation(method, template), status, "application/json")
    errors = [e.message for e in engine.index.validator(schema, "response").iter_errors(body)]
    assert not errors, errors


def test_digitalocean_routes_and_answers(digitalocean: Engine) -> None:
    bearer = {"authorization": "Bearer sandbox"}
    account = digitalocean.handle(MockRequest("GET", "/v2/account", "", bearer))
    assert account.status == 200
    _conforms(digitalocean, "GET", "/v2/account", 200, account.json())
    droplet = digitalocean.handle(MockRequest("GET", "/v2/droplets/123", "", bearer))
    assert droplet.status == 200
    _conforms(digitalocean, "GET", "/v2/droplets/{droplet_id}", 200, droplet.json())
    # the discriminator picks the snapshot action; plain oneOf would reject this body
    action = digitalocean.handle(MockRequest(
        "POST", "/v2/droplets/123/actions", "", {**bearer, "content-type": "application/json"},
        b'{"type": "snapshot", "name": "nightly"}'))
    assert action.status == 201, action.header("x-sandlot-errors")
    unauthorized = digitalocean.handle(MockRequest("GET", "/v2/account"))
    assert unauthorized.status == 401
    _conforms(digitalocean, "GET", "/v2/account", 401, unauthorized.json())  # DO documents its 401 shape


def test_twilio_form_bodies_and_basic_auth() -> None:
    engine = Engine.from_source(str(shared_spec("twilio/twilio_api_v2010.json")))
    auth = {"authorization": "Basic " + base64.b64encode(b"AC123:token").decode(),
            "content-type": "application/x-www-form-urlencoded"}
    path = "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"
    sent = engine.handle(MockRequest("POST", path, "", auth, b"To=%2B15558675310&From=%2B15017122661&Body=hi"))
    assert sent.status == 201, sent.header("x-sandlot-errors") or sent.body
    _conforms(engine, "POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json", 201, sent.json())
    bad = engine.handle(MockRequest("POST", path, "", auth, b"From=%2B15017122661&Body=hi"))
    assert bad.status in (400, 422)
    assert bad.json()["errors"] == [{"location": "body", "pointer": "", "message": "'To' is a required property"}]
