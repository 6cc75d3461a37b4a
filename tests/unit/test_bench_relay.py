"""The relay benchmark's own machinery: its patron stream behaves like EventSource, its goals are marked right."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.observers import Arrivals, PatronStream
from bench.relay_profile import summarize
from bench.relay_report import Result, Sample, ratios

FIRST, SECOND = "#m-000000000001", "#m-000000000002"


class StreamThatEndsOnce(BaseHTTPRequestHandler):
    """First connection: one staff message, then the server ends the stream. Later ones: the next message."""

    connections: list[str | None] = []
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook name
        self.connections.append(self.headers.get("Last-Event-ID"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        seq, token = (1, FIRST) if len(self.connections) == 1 else (2, SECOND)
        data = json.dumps({"author": "staff", "body": f"answer {token}"})
        self.wfile.write(f"retry: 10\n\nid: {seq}\nevent: message\ndata: {data}\n\n".encode())
        self.wfile.flush()
        if seq == 2:
            self.release.wait(10)  # stays open, like a live stream, until the test is done

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stream_server() -> Iterator[str]:
    StreamThatEndsOnce.connections = []
    StreamThatEndsOnce.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), StreamThatEndsOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/conversations/c/events?token=t"
    StreamThatEndsOnce.release.set()
    server.shutdown()
    server.server_close()


def test_the_patron_stream_reconnects_with_last_event_id_when_the_server_ends_it(stream_server):
    arrivals = Arrivals()
    stream = PatronStream(stream_server, arrivals)
    try:
        arrivals.wait(FIRST, timeout=10)
        arrivals.wait(SECOND, timeout=10)  # only after a reconnect, as the widget's EventSource would
    finally:
        stream.close()
    assert StreamThatEndsOnce.connections == [None, "1"]
    assert stream.reconnects == 1


def result(shape: str, concurrency: int, latencies_ms: list[float], wall: float) -> Result:
    samples = [Sample(f"#m-{n:012x}", 0.0, ms / 1000, 0.0, None) for n, ms in enumerate(latencies_ms)]
    return Result(shape, "bare" if shape == "bare" else "patron", concurrency, samples, wall)


def test_ratios_to_bare_mark_each_goal_met_or_not():
    bare = [result("bare", 20, [100.0] * 100, wall=10.0)]
    close = result("production", 20, [110.0] * 95 + [300.0] * 5, wall=10.5)  # p50 1.1×, p99 3×, 0.95× msgs/s
    table = ratios(bare + [close])
    row = next(line for line in table if line.startswith("| production"))
    p50, p99, throughput = row.split("|")[3:6]
    assert "1.10× ✅ met" in p50
    assert "3.00× ❌ not met" in p99
    assert "0.95× ✅ met" in throughput


def test_the_profile_summary_counts_gevent_waiting_in_libev_as_idle(tmp_path):
    raw = tmp_path / "web1-x1.txt"
    raw.write_text(
        "Hub.run (gevent/hub.py:647) 300\n"
        "handle (gunicorn/workers/ggevent.py:120);post_message (web/api.py:136);get (adapters/storage/sql.py:159) 3\n"
        "handle (gunicorn/workers/ggevent.py:120);jsonify (flask/json/__init__.py:170) 1\n"
    )
    lines = summarize(raw)
    assert lines[0].startswith("4 samples (0.0 s of a thread's time), 0% of them waiting")
    assert "| `get (sql.py)` | 75.0% |" in lines
