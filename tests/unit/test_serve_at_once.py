"""Requests without a body are answered without ASGI (http/serve.py OneWriteHttpToolsProtocol,
http/app.py `answer_at_once`), on a real server over raw sockets: the same bytes as uvicorn's own
path would send, pipelining, HTTP/1.0, HEAD, keep-alive, `Connection: close`, edge actions and a
head uvicorn must judge all behave as before."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandlot.http.compose import build_app
from sandlot.http.serve import OneWriteHttpToolsProtocol
from tests.scenarios.servers import UvicornThread

SPEC = """
openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200":
          description: a pet
          content:
            application/json:
              schema: {type: object, required: [id, name], properties: {id: {type: integer}, name: {type: string}}}
  /pets:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string}}}
      responses:
        "201": {description: created}
"""


class Server(UvicornThread):
    """A live server made as `sandlot mock` makes it (tests/scenarios/servers.py), with raw connections."""

    def connect(self) -> socket.socket:
        # `sandlot mock` runs with no access log (uvicorn then leaves its logger without handlers);
        # pytest's log capture hangs its own there, which would send every request the logging way.
        access = logging.getLogger("uvicorn.access")
        access.handlers, access.propagate = [], False
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


def read_responses(conn: socket.socket, count: int, *, heads_only: int = 0) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Read `count` responses (status line, headers, body by Content-Length; the first `heads_only`
    answer HEAD requests and have no body)."""
    buffer, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            assert chunk, f"the connection closed after {len(out)} responses: {buffer!r}"
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in lines)
        length = 0 if len(out) < heads_only else int(headers.get(b"content-length", b"0"))
        while len(buffer) < length:
            chunk = conn.recv(65536)
            assert chunk, "the connection closed inside a body"
            buffer += chunk
        out.append((status, headers, buffer[:length]))
        buffer = buffer[length:]
    return out


def closed_by_server(conn: socket.socket) -> bool:
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every request uvicorn's own path starts as an asyncio task (its method)."""
    started: list[str] = []
    original = OneWriteHttpToolsProtocol._start_asgi_task

    def counted(self: Any, cycle: Any, app: Any) -> None:
        started.append(cycle.scope["method"])
        original(self, cycle, app)
    monkeypatch.setattr(OneWriteHttpToolsProtocol, "_start_asgi_task", counted)
    return started


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Server]:
    spec = tmp_path / "pets.yaml"
    spec.write_text(SPEC)
    with Server(build_app(str(spec), watch=False, journal=None)) as server:
        yield server


GET = b"GET /pets/%d HTTP/1.1\r\nHost: x\r\n\r\n"


def test_requests_without_a_body_are_answered_without_tasks_pipelined_ones_in_order(mock: Server,
                                                                                    tasks: list[str]) -> None:
    with mock.connect() as conn:
        conn.sendall(GET % 1)
        [(status, headers, one)] = read_responses(conn, 1)
        assert status == b"HTTP/1.1 200 OK" and headers[b"content-type"] == b"application/json"
        assert headers[b"content-length"] == str(len(one)).encode() and b"date" in headers
        for n in (2, 1):  # one after the other on the connection
            conn.sendall(GET % n)
            read_responses(conn, 1)
        assert tasks == []  # none went through uvicorn's task per request
        conn.sendall(GET % 2 + GET % 3 + GET % 1)  # pipelined: the first answered at once, the others queued
        answers = read_responses(conn, 3)
    assert [a[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 3
    assert answers[0][2] != answers[1][2]
    assert answers[2][2] == one  # the same request, the same seeded answer: in order
    assert tasks == ["GET", "GET"]  # behind an answer not yet written, uvicorn's queue keeps the order


def test_a_request_with_a_body_between_them_goes_through_asgi_in_order(mock: Server, tasks: list[str]) -> None:
    body = b'{"name": "Rex"}'
    post = (b"POST /pets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body
    bad = b"POST /pets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    with mock.connect() as conn:
        conn.sendall(GET % 1 + post + GET % 2 + bad + GET % 3)
        answers = read_responses(conn, 5)
    assert [a[0].split(b" ")[1] for a in answers] == [b"200", b"201", b"200", b"422", b"200"]
    assert tasks == ["POST", "GET", "POST", "GET"]  # each queued behind the one before


def test_head_sends_the_get_head_and_no_body(mock: Server, tasks: list[str]) -> None:
    with mock.connect() as conn:
        conn.sendall(GET % 7)
        [(_, get_headers, body)] = read_responses(conn, 1)
        conn.sendall(b"HEAD /pets/7 HTTP/1.1\r\nHost: x\r\n\r\n")
        [(status, headers, nothing)] = read_responses(conn, 1, heads_only=1)
        conn.sendall(GET % 7)
        [(_, _, again)] = read_responses(conn, 1)
    assert status == b"HTTP/1.1 200 OK" and nothing == b""
    assert headers[b"content-length"] == get_headers[b"content-length"] == str(len(body)).encode()
    assert again == body  # the GET after it parsed cleanly: the HEAD answer sent no body bytes
    assert tasks == []


def test_http_1_0_and_connection_close_are_answered_then_closed(mock: Server) -> None:
    with mock.connect() as conn:
        conn.sendall(b"GET /pets/1 HTTP/1.0\r\n\r\n")
        [(status, headers, body)] = read_responses(conn, 1)
        assert status == b"HTTP/1.1 200 OK" and headers[b"connection"] == b"close" and body
        assert closed_by_server(conn)
    with mock.connect() as conn:
        conn.sendall(b"GET /pets/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        [(status, headers, _)] = read_responses(conn, 1)
        assert headers[b"connection"] == b"close" and closed_by_server(conn)


def test_an_edge_action_finishes_through_asgi_and_the_connection_goes_on(mock: Server, tasks: list[str]) -> None:
    with mock.connect() as conn:
        started = time.monotonic()
        conn.sendall(b"GET /pets/1 HTTP/1.1\r\nHost: x\r\nSandlot-Scenario: slow; latency=200ms\r\n\r\n")
        answers = read_responses(conn, 1)
        assert time.monotonic() - started >= 0.2
        conn.sendall(GET % 2)
        answers += read_responses(conn, 1)
    assert [a[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 2
    assert tasks == ["GET"]  # the slow one's wait, through uvicorn's cycle
    with mock.connect() as conn:
        conn.sendall(b"GET /pets/1 HTTP/1.1\r\nHost: x\r\nSandlot-Scenario: connection_reset\r\n\r\n")
        assert closed_by_server(conn)


def test_expect_100_continue_goes_through_uvicorn(mock: Server, tasks: list[str]) -> None:
    with mock.connect() as conn:
        conn.sendall(b"GET /pets/1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
        data = b""
        while b"200 OK" not in data:
            chunk = conn.recv(65536)
            assert chunk
            data += chunk
    assert tasks == ["GET"]


class AtOnceApp:
    """An app answering at once with a given head: how the protocol judges what it is handed."""

    def __init__(self, status: int, head: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.answer = (status, head, body)

    @property
    def answer_at_once(self) -> Any:
        return lambda method, path, query, headers: self.answer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never called over ASGI: the protocol answers at once")


@pytest.mark.parametrize(("head", "expected"), [
    # uvicorn refuses these once it has started the response: it closes the connection, as it did
    # when the app sent them over ASGI
    ([(b"bad name", b"x"), (b"content-length", b"2")], b""),
    ([(b"x-ok", b"a\nb"), (b"content-length", b"2")], b""),
    ([(b"content-length", b"5")], b""),  # not the body's length: the head goes, then the connection closes
    ([(b"x-ok", b"fine"), (b"content-length", b"2")], b"HTTP/1.1 200 OK"),
])
def test_a_head_uvicorn_would_refuse_is_judged_by_uvicorn(head: list[tuple[bytes, bytes]], expected: bytes,
                                                            tasks: list[str]) -> None:
    with Server(AtOnceApp(200, head, b"ok")) as server, server.connect() as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    if expected:
        assert data.startswith(expected) and data.endswith(b"\r\n\r\nok"), data
        assert tasks == []
    else:
        assert b"HTTP/1.1 200" not in data or b"content-length: 5" in data, data  # nothing usable
        assert tasks == ["GET"]


def test_sandlot_up_answers_each_stub_at_once_on_its_port(tmp_path: Path, tasks: list[str]) -> None:
    from sandlot.up import Dispatcher

    spec = tmp_path / "pets.yaml"
    spec.write_text(SPEC)
    dispatcher = Dispatcher({})
    server = Server(dispatcher)
    dispatcher.by_port[server.port] = build_app(str(spec), watch=False, journal=None)
    with server, server.connect() as conn:
        conn.sendall(GET % 1)
        [(status, _, body)] = read_responses(conn, 1)
    assert status == b"HTTP/1.1 200 OK" and body.startswith(b"{")
    assert tasks == []
    assert Dispatcher({}).answer_at_once_for(1) is None  # no stub on that port: uvicorn's way (nothing answers)


def test_the_head_is_written_as_uvicorn_writes_it(tasks: list[str]) -> None:
    """Names in lower case; a `Connection: close` from the app ends keep-alive, and is not doubled."""
    app = AtOnceApp(200, [(b"X-Mixed-Case", b"v"), (b"Connection", b"Close"), (b"content-length", b"2")], b"ok")
    with Server(app) as server, server.connect() as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        [(status, headers, body)] = read_responses(conn, 1)
        assert closed_by_server(conn)
    assert status == b"HTTP/1.1 200 OK" and body == b"ok"
    assert headers[b"x-mixed-case"] == b"v" and headers[b"connection"] == b"Close"
    assert tasks == []
