"""docs/scenarios.md is true: its magic table is the example's, its signature reference value is
right, and its Python and JavaScript verification recipes accept good signatures and refuse bad
ones. The example payments sandbox declines magic cards and sends its rule webhooks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sandlot.http.compose import build_app
from sandlot.simulation.magic import magic_table_for
from sandlot.simulation.webhooks import sign
from sandlot.state.config import SandboxConfig
from sandlot.state.fixtures import parse_fixtures
from tests.scenarios.conftest import ADMIN
from tests.scenarios.servers import Receiver, UvicornThread, wait_deliveries

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "scenarios.md").read_text()
EXAMPLE = REPO / "examples" / "payments"
REFERENCE = ("whsec_test", 1767225600, b'{"id":"evt_1"}')


def code_block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert found, f"docs/scenarios.md has no {language} block"
    return found.group(1)


def test_doc_magic_table_is_the_examples() -> None:
    table = DOC.split("<!-- magic-table:begin -->\n")[1].split("<!-- magic-table:end -->")[0]
    assert table == magic_table_for(str(EXAMPLE / "payments-openapi.yaml"))


def test_doc_reference_signature() -> None:
    assert f"v1={sign(*REFERENCE)}" in DOC


def test_python_recipe() -> None:
    namespace: dict = {}
    exec(code_block("python"), namespace)  # noqa: S102 - our own documentation
    namespace["time"] = type("FrozenTime", (), {"time": staticmethod(lambda: REFERENCE[1] + 10)})
    verify = namespace["verify_sandlot_signature"]
    secret, stamp, body = REFERENCE
    header = f"t={stamp},v1={sign(*REFERENCE)}"
    assert verify(header, body, secret)
    assert not verify(header, body + b" ", secret)
    assert not verify(header, body, "whsec_other")
    assert not verify(f"t={stamp - 3600},v1={sign(secret, stamp - 3600, body)}", body, secret)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed; the JS recipe is not run")
def test_javascript_recipe(tmp_path: Path) -> None:
    secret, stamp, body = REFERENCE
    good = f"t={stamp},v1={sign(*REFERENCE)}"
    script = tmp_path / "check.js"
    script.write_text(code_block("javascript") + f"""
Date.now = () => {(stamp + 10) * 1000};
const body = Buffer.from({json.dumps(body.decode())}, "utf8");
console.log(JSON.stringify([
  verifySandlotSignature({json.dumps(good)}, body, {json.dumps(secret)}),
  verifySandlotSignature({json.dumps(good)}, Buffer.concat([body, Buffer.from(" ")]), {json.dumps(secret)}),
  verifySandlotSignature({json.dumps(good)}, body, "whsec_other"),
  verifySandlotSignature("t=1,v1=00", body, {json.dumps(secret)}),
]));
""")
    result = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, False, False, False]


def configmap_value(path: Path, key: str) -> str:
    return yaml.safe_load(path.read_text())["data"][key]


def test_example_payments_flow(tmp_path: Path) -> None:
    spec = tmp_path / "payments.yaml"
    spec.write_text(configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
    fixtures = parse_fixtures(configmap_value(EXAMPLE / "payments-fixtures.yaml", "fixtures.yaml"))
    built = build_app(str(spec), db=tmp_path / "p.db", config=SandboxConfig(admin_token=ADMIN), fixtures=fixtures)
    assert built.pipeline.state is not None
    _, key = built.pipeline.state.issue_key(name="example")
    import httpx

    try:
        with UvicornThread(built) as server, Receiver() as receiver, httpx.Client(
                base_url=server.url, headers={"authorization": f"Bearer {key.secret}"}, timeout=10) as client:
            endpoint = client.post("/__sandlot/webhooks/endpoints", json={"url": receiver.url}).json()
            receiver.secrets.append(endpoint["secret"])
            charge = {"amount": 2000, "currency": "usd", "customer": "cus_seed_ada"}
            declined = client.post("/v1/charges", json={**charge, "card": {"number": "4000000000000002"}})
            blocked = client.post("/v1/customers", json={"email": "blocked@example.com"})
            named = client.post("/v1/charges", json=charge, headers={"Sandlot-Scenario": "card_declined"})
            made = client.post("/v1/charges", json={**charge, "card": {"number": "4242424242424242"}})
            refund = client.post("/v1/refunds", json={"charge": made.json()["id"]})
            assert [d["state"] for d in client.get("/__sandlot/webhooks/deliveries").json()["deliveries"]] == \
                ["scheduled", "scheduled"]
            client.post("/__sandlot/clock/advance", json={"by": "2s"})
            got = receiver.wait_for(2)
            wait_deliveries(client, {}, lambda ds: all(d["state"] == "delivered" for d in ds))
            table = client.get("/__sandlot/magic").json()["markdown"]
        engine = built.holder.engine
        schemas = {name: item["post"]["requestBody"]["content"]["application/json"]["schema"]
                   for name, item in engine.spec.document["webhooks"].items()}
        for delivery in got:  # every payload is valid against the spec's webhook schema
            event = delivery.json()
            errors = list(engine.index.validator(schemas[event["type"]], "response").iter_errors(event))
            assert errors == [], errors
    finally:
        built.pipeline.close()
    assert table == magic_table_for(str(EXAMPLE / "payments-openapi.yaml"))
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "card_declined"
    assert blocked.status_code == 400 and blocked.json()["error"]["code"] == "customer_blocked"
    assert named.status_code == 402
    assert made.status_code == 201 and refund.status_code == 201
    assert [g.json()["type"] for g in got] == ["charge.succeeded", "charge.refunded"]
    assert got[0].json()["data"]["object"] == made.json()
    assert got[1].json()["data"]["object"] == refund.json()
    assert all(g.verified for g in got)
