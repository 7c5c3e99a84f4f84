"""The server's connections send what is written in one turn of the event loop in one write
(http/serve.py): a response's head and body go out together, in order, and nothing is held
past the turn or lost on close."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from sandlot.http.serve import _OneWritePerTurn, serve_until_stopped


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_a_head_and_its_body_go_out_in_one_write_in_order() -> None:
    async def scenario() -> list[bytes]:
        inner = _Recorder()
        transport = _OneWritePerTurn(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert inner.writes == []  # held until the body or the end of the turn
        transport.write(b"body")
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        await asyncio.sleep(0)
        return inner.writes

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\n\r\nbody"]


def test_a_lone_write_goes_out_at_the_end_of_the_turn() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        inner = _Recorder()
        transport = _OneWritePerTurn(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # no body follows
        before = list(inner.writes)
        await asyncio.sleep(0)
        transport.write(b"chunk 1")  # a streamed body: every turn's chunk goes out in that turn
        await asyncio.sleep(0)
        transport.write(b"chunk 2")
        await asyncio.sleep(0)
        return before, inner.writes

    before, after = asyncio.run(scenario())
    assert before == []
    assert after == [b"HTTP/1.1 204 No Content\r\n\r\n", b"chunk 1", b"chunk 2"]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> tuple[_Recorder, _Recorder]:
        loop = asyncio.get_running_loop()
        closed, aborted = _Recorder(), _Recorder()
        first = _OneWritePerTurn(closed, loop)
        first.write(b"last words")
        first.close()
        second = _OneWritePerTurn(aborted, loop)
        second.write(b"never sent")
        second.abort()
        await asyncio.sleep(0)
        assert first.get_extra_info("peername") == "info:peername"  # the rest is the transport's
        return closed, aborted

    closed, aborted = asyncio.run(scenario())
    assert closed.writes == [b"last words"] and closed.closed
    assert aborted.writes == [] and aborted.aborted


def test_the_server_answers_pipelined_requests_on_one_connection_in_order() -> None:
    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = threading.Thread(target=serve_until_stopped, args=(app,),
                              kwargs={"sockets": [sock], "log_level": "warning", "lifespan": "off"}, daemon=True)
    server.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
    with client:
        client.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"/two"):
            chunk = client.recv(65536)
            assert chunk, received
            received += chunk
    first, second = received.split(b"HTTP/1.1 200 OK")[1:]
    assert first.endswith(b"\r\n\r\n/one") and second.endswith(b"\r\n\r\n/two")


def test_a_whole_response_goes_out_at_once_after_anything_held() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        loop = asyncio.get_running_loop()
        alone, behind = _Recorder(), _Recorder()
        _OneWritePerTurn(alone, loop).write_whole(b"HTTP/1.1 200 OK\r\n\r\nall")
        assert alone.writes == [b"HTTP/1.1 200 OK\r\n\r\nall"]  # not held for the end of the turn
        transport = _OneWritePerTurn(behind, loop)
        transport.write(b"earlier")
        transport.write_whole(b"whole")
        assert behind.writes == [b"earlierwhole"]
        await asyncio.sleep(0)
        return alone.writes, behind.writes

    alone, behind = asyncio.run(scenario())
    assert (len(alone), behind) == (1, [b"earlierwhole"])
