"""Subscriptions over graphql-transport-ws on a real WebSocket: fed by mutations (over HTTP and over
the socket) and by the tenant's virtual clock; the protocol's acknowledgements and close codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.graphql.servers import FIXTURES, Stub, serve

PROTOCOL = "graphql-transport-ws"


async def _recv(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _connect(stub: Stub, payload: dict[str, Any] | None = None) -> Any:
    ws = await websockets.connect(stub.endpoint.replace("http://", "ws://"), subprotocols=[PROTOCOL],
                                  open_timeout=5)
    await ws.send(json.dumps({"type": "connection_init", **({"payload": payload} if payload else {})}))
    assert await _recv(ws) == {"type": "connection_ack"}
    return ws


@pytest.fixture()
def stateful(tmp_path: Path) -> Stub:
    with serve(db=tmp_path / "subs.db", fixtures=FIXTURES / "shop-fixtures.yaml",
               config={"graphql": {"subscriptions": {"heartbeat": {"every": "1m"}}}}) as running:
        yield running


async def test_mutations_feed_subscriptions_of_the_same_tenant(stateful: Stub) -> None:
    key = stateful.admin("POST", "keys", {"name": "ws"})["key"]
    other = stateful.admin("POST", "keys", {"name": "other"})["key"]
    ws = await _connect(stateful, {"Authorization": f"Bearer {key}"})
    spy = await _connect(stateful, {"Authorization": f"Bearer {other}"})
    try:
        query = 'subscription { orderCreated(customerId: "cus_ada") { id total customer { name } } }'
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        await spy.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": query}}))
        await asyncio.sleep(0.2)
        auth = {"authorization": f"Bearer {key}"}
        await asyncio.to_thread(stateful.data, 'mutation { createOrder(customerId: "cus_grace", total: 1, '
                                'currency: "EUR") { id } }', headers=auth)  # another customer: filtered out
        made = await asyncio.to_thread(stateful.data, 'mutation { createOrder(customerId: "cus_ada", total: 42, '
                                       'currency: "EUR") { id } }', headers=auth)
        message = await _recv(ws)
        assert message["type"] == "next" and message["id"] == "1"
        order = message["payload"]["data"]["orderCreated"]
        assert order["id"] == made["createOrder"]["id"] and order["total"] == 42
        assert isinstance(order["customer"]["name"], str)
        # a mutation sent over the socket itself: answered once, then complete, and it feeds too
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
            "query": 'mutation { createOrder(customerId: "cus_ada", total: 7, currency: "USD") { total } }'}}))
        replies = [await _recv(ws) for _ in range(3)]
        assert {"id": "2", "type": "next", "payload": {"data": {"createOrder": {"total": 7}}}} in replies
        assert {"id": "2", "type": "complete"} in replies
        assert any(r["id"] == "1" and r["payload"]["data"]["orderCreated"]["total"] == 7 for r in replies)
        with pytest.raises(TimeoutError):
            await _recv(spy, timeout=0.5)  # the other tenant saw nothing
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await ws.send(json.dumps({"type": "ping"}))
        assert await _recv(ws) == {"type": "pong"}
    finally:
        await ws.close()
        await spy.close()


async def test_the_virtual_clock_feeds_clock_subscriptions(stateful: Stub) -> None:
    key = stateful.admin("POST", "keys", {"name": "ticks"})["key"]
    ws = await _connect(stateful, {"Authorization": f"Bearer {key}"})
    try:
        await ws.send(json.dumps({"id": "t", "type": "subscribe", "payload": {"query": "subscription { heartbeat }"}}))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(httpx.post, stateful.url + "/__sandlot/clock/advance", json={"by": "3m"},
                                headers={"authorization": f"Bearer {key}"})
        ticks = [await _recv(ws) for _ in range(3)]
        assert all(t["type"] == "next" and isinstance(t["payload"]["data"]["heartbeat"], int) for t in ticks)
        with pytest.raises(TimeoutError):
            await _recv(ws, timeout=0.5)
    finally:
        await ws.close()


async def test_stateless_subscriptions_and_protocol_errors() -> None:
    with serve() as stub:
        ws = await _connect(stub)
        try:
            await ws.send(json.dumps({"id": "a", "type": "subscribe",
                                      "payload": {"query": "subscription { customerUpdated { id name } }"}}))
            await ws.send(json.dumps({"id": "b", "type": "subscribe", "payload": {"query": "subscription { nope }"}}))
            error = await _recv(ws)
            assert error["type"] == "error" and error["id"] == "b"
            assert "Cannot query field 'nope'" in error["payload"][0]["message"]
            await asyncio.to_thread(stub.data, 'mutation { updateCustomer(id: "c7", name: "Renamed") { id } }')
            update = await _recv(ws)
            assert update["payload"]["data"]["customerUpdated"] == {"id": "c7", "name": "Renamed"}
            await ws.send(json.dumps({"id": "a", "type": "subscribe",
                                      "payload": {"query": "subscription { heartbeat }"}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await _recv(ws)
            assert closed.value.rcvd.code == 4409
        finally:
            await ws.close()
        ws = await websockets.connect(stub.endpoint.replace("http://", "ws://"), subprotocols=[PROTOCOL])
        try:
            await ws.send(json.dumps({"id": "x", "type": "subscribe", "payload": {"query": "subscription { heartbeat }"}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await _recv(ws)
            assert closed.value.rcvd.code == 4401  # subscribe before connection_init
        finally:
            await ws.close()


async def test_unknown_key_is_refused(stateful: Stub) -> None:
    ws = await websockets.connect(stateful.endpoint.replace("http://", "ws://"), subprotocols=[PROTOCOL])
    try:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer sk_sbx_" + "n" * 43}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _recv(ws)
        assert closed.value.rcvd.code == 4403
    finally:
        await ws.close()


async def test_clock_subscriptions_tick_as_real_time_passes() -> None:
    with serve(config={"graphql": {"subscriptions": {"heartbeat": {"every": "300ms"}}}}) as stub:
        ws = await _connect(stub)
        try:
            started = asyncio.get_running_loop().time()
            await ws.send(json.dumps({"id": "h", "type": "subscribe",
                                      "payload": {"query": "subscription { heartbeat }"}}))
            ticks = [await _recv(ws, timeout=3) for _ in range(2)]  # nobody advances the clock
            assert asyncio.get_running_loop().time() - started >= 0.6
            assert all(t["id"] == "h" and isinstance(t["payload"]["data"]["heartbeat"], int) for t in ticks)
        finally:
            await ws.close()
