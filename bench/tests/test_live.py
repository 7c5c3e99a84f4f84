"""The harness's side effects on real processes and sockets (127.0.0.1, bounded, about 2 s)."""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import pyload
from bench.processes import ServerProcess, is_running, tree_pids


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the servers under test

    def do_GET(self):  # noqa: N802 - the http.server hook name
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n0\r\n\r\n")
        else:
            body = b'{"ok": true}'
            self.send_response(200 if self.path == "/ok" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/ok", "/chunked"])
def test_pyload_keeps_connections_alive_and_counts_every_answer(http_port, path):
    stats = pyload.run(f"http://127.0.0.1:{http_port}{path}", {}, connections=2, duration_s=0.5)
    assert stats.requests > 10
    assert (stats.bad_responses, stats.errors) == (0, 0)


def test_pyload_counts_error_statuses_as_bad_responses(http_port):
    stats = pyload.run(f"http://127.0.0.1:{http_port}/missing", {}, connections=1, duration_s=0.3)
    assert stats.requests > 0
    assert stats.bad_responses == stats.requests


def test_server_process_stop_ends_the_whole_tree(tmp_path):
    child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    server = ServerProcess([sys.executable, "-c", child], tmp_path / "log.txt", cwd=tmp_path)
    deadline = time.monotonic() + 10
    while len(tree_pids(server.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = tree_pids(server.proc.pid)
    assert len(pids) == 2
    assert server.peak_rss_mib() > 1
    server.stop()
    assert [pid for pid in pids if is_running(pid)] == []


def test_pyload_sends_a_new_number_in_every_request():
    seen = []

    class Recorder(_Handler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            self.path = "/ok"
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stats = pyload.run(f"http://127.0.0.1:{server.server_address[1]}/pets/{{n}}", {}, 2, 0.3, first_number=7)
    finally:
        server.shutdown()
        server.server_close()
    assert stats.requests == len(seen) > 5
    assert len(set(seen)) == len(seen)
    assert "/pets/7" in seen
