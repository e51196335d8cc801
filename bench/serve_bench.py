"""The web app under load, on loopback: upload time, single-customer latency, memory.

Starts ``python -m ntl serve`` on a free loopback port with the given run, then, in bounded
loops:

1. memory: the server's resident memory (VmRSS) before and after `--uploads` successive uploads
   of a `--upload-customers`-customer slice of the CSV (after the first `--keep-results` uploads
   the app's result store is full, so any further growth is a leak);
2. the SGCC-scale CSV uploaded to the ranked-list page (POST /upload, then the list it redirects
   to), timed end to end;
3. single-customer scoring: `--clients` concurrent clients POST /api/score for `--seconds`
   seconds, each with its own customer's readings; p50, p99, requests a second and the
   server's own CPU time per request (/proc), so a slow answer can be told from a busy machine;
4. the same loop on /api/health for `--health-seconds` (the HTTP stack's floor: no scoring).

The clients are lean (one keep-alive connection each on asyncio streams, each request encoded
once): they share the two cores with the server, and httpx cost about 1 ms of CPU a request,
which capped /api/health at ~820 requests a second (p50 20 ms); these reach ~2,000 (p50 8 ms).

Writes one JSON and stops the server. ``bench/bench.py`` runs it as a stage.

    python bench/serve_bench.py --artifacts artifacts/bench --csv artifacts/bench/sgcc_layout.csv
    python bench/serve_bench.py ... --latency-only   # the request loops alone, no uploads
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

START_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(artifacts: Path, keep_results: int, log: Path, scoring_processes: int | None = None):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "NTL_API_TOKEN"}
    command = [sys.executable, "-m", "ntl", "serve", "--artifacts", str(artifacts)]
    command += ["--port", str(port), "--log-level", "warning", "--keep-results", str(keep_results)]
    if scoring_processes is not None:  # else the app's default
        command += ["--scoring-processes", str(scoring_processes)]
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise SystemExit(f"ntl serve exited: {log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("ntl serve did not start in time")
            time.sleep(0.25)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def upload(client: httpx.Client, path: Path) -> float:
    """Seconds from the start of the upload to the ranked list page received."""
    started = time.perf_counter()
    with path.open("rb") as handle:
        answer = client.post("/upload", files={"file": (path.name, handle)})
    answer.raise_for_status()
    if "/results/" not in str(answer.url):
        raise SystemExit(f"upload did not reach the list: {answer.status_code} {answer.text[:300]}")
    return time.perf_counter() - started


def request_bytes(host: str, path: str, body: dict | None) -> bytes:
    """One keep-alive HTTP/1.1 request, encoded once (GET without a body, POST of JSON)."""
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, ... (Linux)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The running child processes of `pid` (the app's scoring processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    """The command line of `pid` (empty once it has ended)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its running children (the app's scoring processes)
    have used so far (Linux /proc)."""
    total = 0.0
    for process in [pid, *children(pid)]:
        with contextlib.suppress(OSError):
            fields = _stat_fields(process)
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def latency(
    url: str, path: str, bodies: list[dict | None], clients: int, seconds: float
) -> list[float]:
    """Per-request latencies (s) of `clients` concurrent closed loops on `path`.

    A lean client so the load generator, which shares the machine's cores with the server, is
    not what is measured: one keep-alive connection per client on asyncio streams, each request
    encoded once, the response read by its Content-Length (httpx cost ~1 ms of CPU a request).
    """
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors = 0

    async def loop(request: bytes) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:  # bounded by the deadline
                started = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            writer.close()

    requests = [request_bytes(f"{host}:{port}", path, body) for body in bodies]
    await asyncio.gather(*(loop(requests[i % len(requests)]) for i in range(clients)))
    if errors:
        raise SystemExit(f"{errors} requests to {path} failed")
    return latencies


def latency_figures(
    url: str, pid: int, path: str, bodies: list, clients: int, seconds: float
) -> dict:
    """p50/p99/max latency, requests a second and the server's CPU time per request of
    `clients` closed loops for `seconds` (after a 2-second warm-up that is not counted)."""
    asyncio.run(latency(url, path, bodies, clients, 2.0))
    cpu_before = cpu_seconds(pid)
    answered = asyncio.run(latency(url, path, bodies, clients, seconds))
    cpu = cpu_seconds(pid) - cpu_before
    ms = np.asarray(answered) * 1000
    return {
        "seconds": seconds,
        "requests": len(ms),
        "per_second": round(len(ms) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / max(len(ms), 1), 2),
    }


def readings_bodies(csv_path: Path, count: int) -> list[dict]:
    """`count` customers' readings from the CSV, as /api/score request bodies."""
    head = pd.read_csv(csv_path, nrows=count, index_col=0)
    days = [c for c in head.columns if c != "FLAG"]
    dates = pd.to_datetime(days, format="%Y/%m/%d").strftime("%Y-%m-%d")
    bodies = []
    for customer, row in head[days].iterrows():  # `count` (20) customers
        values = row.to_numpy(dtype=float)
        keep = ~np.isnan(values)
        bodies.append(
            {
                "customer_id": str(customer),
                "readings": dict(zip(dates[keep], values[keep].tolist(), strict=True)),
            }
        )
    return bodies


def memory_trend(rss_after_full: list[float]) -> dict:
    """Resident memory once the result store is full, as a leak would show it: the least-squares
    slope in MB an upload (a leak of x MB an upload gives x; allocator noise about 0) and the
    range it moved in. One before/after difference cannot tell the two apart."""
    rss = np.asarray(rss_after_full, dtype=np.float64)
    slope = float(np.polyfit(np.arange(len(rss)), rss, 1)[0]) if len(rss) >= 2 else float("nan")
    return {
        "trend_mb_per_upload": round(slope, 3),
        "rss_mb_min_after_store_full": round(float(rss.min()), 1),
        "rss_mb_max_after_store_full": round(float(rss.max()), 1),
    }


def upload_figures(
    client: httpx.Client, pid: int, small: Path, csv_path: Path, args: argparse.Namespace
) -> dict:
    """Resident memory across `--uploads` uploads of the slice, then the SGCC-scale upload."""
    rss = [rss_mb(pid)]
    times = []
    for _ in range(args.uploads):  # bounded: --uploads
        times.append(upload(client, small))
        rss.append(rss_mb(pid))
    full = min(args.keep_results, args.uploads)
    memory = {
        "uploads": args.uploads,
        "upload_customers": args.upload_customers,
        "keep_results": args.keep_results,
        "rss_mb_at_start": round(rss[0], 1),
        "rss_mb_store_full": round(rss[full], 1),
        "rss_mb_after_all": round(rss[-1], 1),
        "growth_after_store_full_mb": round(rss[-1] - rss[full], 1),
        **memory_trend(rss[full:]),
        "upload_seconds_median": round(float(np.median(times)), 3),
        "total_seconds": round(sum(times), 2),
    }
    print(f"memory: {memory}", flush=True)
    sgcc = upload(client, csv_path)
    figures = {
        "seconds": round(sgcc, 2),
        "csv_megabytes": round(csv_path.stat().st_size / 1e6, 1),
        "rss_mb_after": round(rss_mb(pid), 1),
    }
    print(f"SGCC upload -> list: {sgcc:.2f} s", flush=True)
    return {"memory": memory, "upload_sgcc": figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", required=True)
    parser.add_argument("--csv", required=True, help="the SGCC-layout bench CSV")
    parser.add_argument("--out", default="reports/bench/serve_bench.json")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--upload-customers", type=int, default=2000)
    parser.add_argument("--keep-results", type=int, default=3)
    parser.add_argument(
        "--scoring-processes", type=int, help="the app's --scoring-processes (default: its own)"
    )
    parser.add_argument(
        "--latency-only", action="store_true", help="skip the uploads: the latency loops only"
    )
    parser.add_argument(
        "--health-seconds",
        type=float,
        default=10,
        help="then /api/health for this long (the HTTP stack's own floor); 0 skips it",
    )
    args = parser.parse_args()
    csv_path = Path(args.csv)
    work = Path(tempfile.mkdtemp(prefix="ntl-serve-bench-"))
    small = work / "slice.csv"
    if not args.latency_only:
        pd.read_csv(csv_path, nrows=args.upload_customers, index_col=0).to_csv(small)
    bodies = readings_bodies(csv_path, args.clients)
    report: dict = {"clients": args.clients, "seconds": args.seconds}
    log = work / "server.log"
    with server(Path(args.artifacts), args.keep_results, log, args.scoring_processes) as (url, pid):
        if not args.latency_only:
            with httpx.Client(base_url=url, timeout=600, follow_redirects=True) as client:
                report |= upload_figures(client, pid, small, csv_path, args)
        report["single_customer"] = latency_figures(
            url, pid, "/api/score", bodies, args.clients, args.seconds
        )
        print(f"single customer: {report['single_customer']}", flush=True)
        workers = [child for child in children(pid) if b"spawn_main" in _cmdline(child)]
        report["scoring_processes"] = {
            "count": len(workers),
            "rss_mb": [round(rss_mb(worker), 1) for worker in workers],
        }
        print(f"scoring processes: {report['scoring_processes']}", flush=True)
        if args.health_seconds > 0:
            report["health"] = latency_figures(
                url, pid, "/api/health", [None], args.clients, args.health_seconds
            )
            print(f"health (the HTTP floor): {report['health']}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
