"""The serve bench's lean HTTP client (bench/serve_bench.py): requests, responses, the loop."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench_modules import load_bench


@pytest.fixture(scope="module")
def serve_bench():
    return load_bench("serve_bench")


def test_requests_are_encoded_once_with_their_length(serve_bench):
    assert serve_bench.request_bytes("127.0.0.1:8000", "/api/health", None) == (
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
    )
    body = {"readings": {"2016-01-01": 1.5}}
    post = serve_bench.request_bytes("127.0.0.1:8000", "/api/score", body)
    head, _, payload = post.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /api/score HTTP/1.1\r\n")
    assert f"Content-Length: {len(payload)}".encode() in head
    assert json.loads(payload) == body


def test_responses_are_read_by_their_length_one_after_another(serve_bench):
    async def read_two() -> tuple[int, int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
            b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 2\r\n\r\n{}rest"
        )
        reader.feed_eof()
        first = await serve_bench.read_response(reader)
        second = await serve_bench.read_response(reader)
        return first, second, await reader.read()

    assert asyncio.run(read_two()) == (200, 422, b"rest")


async def _serve(status: int, handler_calls: list[int]):
    """A keep-alive HTTP/1.1 server on a free loopback port answering every request `status`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                handler_calls.append(1)
                body = b'{"ok": true}'
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_the_closed_loops_count_every_answer_and_stop_at_the_deadline(serve_bench):
    calls: list[int] = []

    async def run(status: int) -> list[float]:
        server = await _serve(status, calls)
        port = server.sockets[0].getsockname()[1]
        try:
            return await serve_bench.latency(
                f"http://127.0.0.1:{port}", "/api/score", [{"readings": {}}], 3, 0.3
            )
        finally:
            server.close()
            await server.wait_closed()

    started = time.monotonic()
    latencies = asyncio.run(run(200))
    assert 0.3 <= time.monotonic() - started < 5  # bounded by the deadline
    assert len(latencies) == len(calls) > 3  # one latency per request answered
    assert all(0 < seconds < 5 for seconds in latencies)
    with pytest.raises(SystemExit, match=r"requests to /api/score failed"):
        asyncio.run(run(500))


def test_cpu_seconds_read_from_proc_follow_the_process_clock(serve_bench):
    if not Path(f"/proc/{os.getpid()}/stat").exists():
        pytest.skip("no /proc on this system")
    before, clock = serve_bench.cpu_seconds(os.getpid()), time.process_time()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # bounded: 0.3 s of CPU
        pass
    used = serve_bench.cpu_seconds(os.getpid()) - before
    assert used == pytest.approx(time.process_time() - clock, abs=0.05)


def test_cpu_seconds_count_the_running_children_too(serve_bench):
    """The app's scoring processes are its children: their CPU is the app's."""
    if not Path(f"/proc/{os.getpid()}/stat").exists():
        pytest.skip("no /proc on this system")
    busy = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
    child = subprocess.Popen([sys.executable, "-c", busy + "time.sleep(30)"])
    try:
        assert child.pid in serve_bench.children(os.getpid())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # bounded: until the child has spent its 0.5 s
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[11]) + int(fields[12]) >= 0.5 * os.sysconf("SC_CLK_TCK"):
                break
            time.sleep(0.05)
        own = time.process_time()
        assert serve_bench.cpu_seconds(os.getpid()) - own == pytest.approx(0.5, abs=0.25)
    finally:
        child.kill()
        child.wait(10)
    assert child.pid not in serve_bench.children(os.getpid())


def test_memory_trend_tells_a_leak_from_noise(serve_bench):
    leak = serve_bench.memory_trend([400 + 2.0 * upload for upload in range(47)])
    assert leak["trend_mb_per_upload"] == pytest.approx(2.0)
    assert (leak["rss_mb_min_after_store_full"], leak["rss_mb_max_after_store_full"]) == (400, 492)
    noise = serve_bench.memory_trend([425, 430, 420, 478, 457, 423, 426, 437] * 6)
    assert abs(noise["trend_mb_per_upload"]) < 0.5  # up and down over 48 uploads, no trend
    assert noise["rss_mb_max_after_store_full"] == 478
    lone = serve_bench.memory_trend([420.0])
    assert lone["trend_mb_per_upload"] != lone["trend_mb_per_upload"]  # NaN: no trend from one
