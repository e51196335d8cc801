"""The web app under load, on loopback: upload time, single-customer latency, memory.

Starts ``python -m ntl serve`` on a free loopback port with the given run, then, in bounded
loops:

1. memory: the server's resident memory (VmRSS) before and after `--uploads` successive uploads
   of a `--upload-customers`-customer slice of the CSV (after the first `--keep-results` uploads
   the app's result store is full, so any further growth is a leak);
2. the SGCC-scale CSV uploaded to the ranked-list page (POST /upload, then the list it redirects
   to), timed end to end;
3. single-customer scoring: `--clients` concurrent clients POST /api/score for `--seconds`
   seconds, each with its own customer's readings; p50 and p99 latency.

Writes one JSON and stops the server. ``bench/bench.py`` runs it as a stage.

    python bench/serve_bench.py --artifacts artifacts/bench --csv artifacts/bench/sgcc_layout.csv
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
def server(artifacts: Path, keep_results: int, log: Path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "NTL_API_TOKEN"}
    command = [sys.executable, "-m", "ntl", "serve", "--artifacts", str(artifacts)]
    command += ["--port", str(port), "--log-level", "warning", "--keep-results", str(keep_results)]
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


async def latency(url: str, bodies: list[dict], clients: int, seconds: float) -> list[float]:
    """Per-request latencies (s) of `clients` concurrent loops POSTing /api/score."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors = 0

    async def loop(body: dict) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:  # bounded by the deadline
                started = time.perf_counter()
                answer = await client.post("/api/score", json=body)
                latencies.append(time.perf_counter() - started)
                errors += answer.status_code != 200

    await asyncio.gather(*(loop(bodies[i % len(bodies)]) for i in range(clients)))
    if errors:
        raise SystemExit(f"{errors} single-customer requests failed")
    return latencies


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
    args = parser.parse_args()
    csv_path = Path(args.csv)
    work = Path(tempfile.mkdtemp(prefix="ntl-serve-bench-"))
    small = work / "slice.csv"
    pd.read_csv(csv_path, nrows=args.upload_customers, index_col=0).to_csv(small)
    bodies = readings_bodies(csv_path, args.clients)
    report: dict = {"clients": args.clients, "seconds": args.seconds}
    with server(Path(args.artifacts), args.keep_results, work / "server.log") as (url, pid):
        with httpx.Client(base_url=url, timeout=600, follow_redirects=True) as client:
            rss = [rss_mb(pid)]
            times = []
            for _ in range(args.uploads):  # bounded: --uploads
                times.append(upload(client, small))
                rss.append(rss_mb(pid))
            full = min(args.keep_results, args.uploads)
            report["memory"] = {
                "uploads": args.uploads,
                "upload_customers": args.upload_customers,
                "keep_results": args.keep_results,
                "rss_mb_at_start": round(rss[0], 1),
                "rss_mb_store_full": round(rss[full], 1),
                "rss_mb_after_all": round(rss[-1], 1),
                "growth_after_store_full_mb": round(rss[-1] - rss[full], 1),
                "upload_seconds_median": round(float(np.median(times)), 3),
                "total_seconds": round(sum(times), 2),
            }
            print(f"memory: {report['memory']}", flush=True)
            sgcc = upload(client, csv_path)
            report["upload_sgcc"] = {
                "seconds": round(sgcc, 2),
                "csv_megabytes": round(csv_path.stat().st_size / 1e6, 1),
                "rss_mb_after": round(rss_mb(pid), 1),
            }
            print(f"SGCC upload -> list: {sgcc:.2f} s", flush=True)
        asyncio.run(latency(url, bodies, args.clients, 2.0))  # warm-up, not counted
        seconds = asyncio.run(latency(url, bodies, args.clients, args.seconds))
        ms = np.asarray(seconds) * 1000
        report["single_customer"] = {
            "requests": len(ms),
            "per_second": round(len(ms) / args.seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1),
        }
        print(f"single customer: {report['single_customer']}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
