"""The Dask path at 100k, 300k and 1M customers x 365 days on a LocalCluster: a measurement.

For each size: synthetic data generated straight into partitioned parquet on the workers, then
the stages that scale -- stage 02 (quality, cleaning, features per part; clustering on a sample),
stage 03 as notebook 03 runs it on the Dask path (``train_partitions``: the label-free
detectors on a sample, ``xgboost.dask`` and its out-of-fold fold models, ensemble and
calibration) and scoring as ``ntl score`` does it (preprocess, score, tier, reasons for the
high and medium tiers, the whole list written in rank order). Per stage: seconds, customers
per second, the peak resident memory of every worker (sampled every 0.1 s) against its limit,
and whether a worker was restarted. Also the 1M / 100k time ratio per stage (linear = 10) and
a fixed reference workload (an XGBoost fit on one thread, nothing of ntl), timed again before
each size, so that runs on other machines -- or on this one under another load -- compare as
multiples of it.

    python bench/bench_scale.py --out reports/bench/bench_scale.json [--sizes 100000 300000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_DAYS = 365
SIZES = (100_000, 300_000, 1_000_000)
WORKERS = 2
WORKER_MEMORY_GB = 3.0
REFERENCE = (
    "import numpy as np, xgboost as xgb; rng = np.random.default_rng(0); "
    "x = rng.normal(size=(20000, 40)).astype('float32'); "
    "y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=20000) > 1).astype(int); "
    "xgb.XGBClassifier(n_estimators=200, max_depth=6, n_jobs=1, tree_method='hist', "
    "random_state=0).fit(x, y)"
)
# Bounded model settings, the same at every size, so the ratio measures the data and not the fit.
MODEL_SETTINGS = {
    "if_n_estimators": 100,
    "xgb_params": {"n_estimators": 300, "learning_rate": 0.1},
    "early_stopping_rounds": 30,
    "rf_n_estimators": 50,
    "oof_folds": 2,  # the out-of-fold fold models: 2 keeps the bench's train stage ~2x one fit
}


def start_sampler(dask_worker) -> int:
    """In a worker: sample its resident memory every 0.1 s, keeping the peak; returns its pid."""
    import threading

    import psutil

    state = {"peak": 0}
    process = psutil.Process()

    def sample() -> None:
        while True:
            state["peak"] = max(state["peak"], process.memory_info().rss)
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True, name="ntl-bench-memory").start()
    dask_worker.ntl_bench_memory = state
    return os.getpid()


def take_peak(dask_worker) -> tuple[int, int]:
    """In a worker: (pid, peak bytes since the last call); the peak restarts from now."""
    import psutil

    state = dask_worker.ntl_bench_memory
    peak = state["peak"]
    state["peak"] = psutil.Process().memory_info().rss
    return os.getpid(), peak


def reference_seconds() -> float:
    """Wall time of the fixed reference workload in a child process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", REFERENCE], check=True, cwd=ROOT)
    return time.perf_counter() - started


def run_size(client, n_customers: int, work: Path, limit_bytes: int, seed: int) -> list[dict]:
    """Every stage at one size; one row per stage."""
    from ntl.distributed.models import train_partitions
    from ntl.distributed.partitions import generate_partitions
    from ntl.distributed.preprocess import (
        preprocess_partitions,
        split_partitions,
        training_masks,
    )
    from ntl.distributed.scoring import score_partitions, write_ranked_list
    from ntl.preprocess import PreprocessConfig
    from ntl.thresholds import fit_thresholds

    pids = set(client.run(start_sampler).values())
    rows = []

    def stage(name: str, function):
        client.run(take_peak)  # restart the peaks
        started = time.perf_counter()
        value = function()
        seconds = time.perf_counter() - started
        peaks = client.run(take_peak)
        now = {pid for pid, _ in peaks.values()}
        peak_gb = [round(peak / 1e9, 3) for _, peak in peaks.values()]
        rows.append(
            {
                "customers": n_customers,
                "stage": name,
                "seconds": round(seconds, 2),
                "customers_per_second": round(n_customers / seconds),
                "peak_memory_gb_per_worker": peak_gb,
                "worker_memory_limit_gb": round(limit_bytes / 1e9, 3),
                "under_limit": all(p * 1e9 < limit_bytes for p in peak_gb),
                "workers_restarted": len(pids - now),
            }
        )
        print(
            f"{n_customers:>9,} {name:12s} {seconds:7.1f} s  {n_customers / seconds:9,.0f}/s  "
            f"peak {max(peak_gb):.2f} GB of {limit_bytes / 1e9:.2f}",
            flush=True,
        )
        return value

    folder = work / f"n{n_customers}"
    shutil.rmtree(folder, ignore_errors=True)
    consumption = stage(
        "generate",
        lambda: generate_partitions(
            folder / "consumption", n_customers, n_days=N_DAYS, seed=seed, client=client
        ),
    )
    config = PreprocessConfig()
    split = split_partitions(client, consumption, (0.6, 0.2, 0.2), seed)  # first, as in 02
    pre = stage(
        "preprocess",
        lambda: preprocess_partitions(
            client, consumption, folder / "preprocessed", config, seed, training_masks(split)
        ),
    )
    trained = stage(
        "train",
        lambda: train_partitions(
            client, pre.preprocessed, split=split, seed=seed, **MODEL_SETTINGS
        ),
    )
    validation = trained.validation
    thresholds = fit_thresholds(
        validation["risk_score"], validation["FLAG"].astype("Int8"), population_size=n_customers
    )

    def score() -> None:
        result = score_partitions(
            client, consumption, trained.bundle, thresholds, preprocessor=pre.preprocessor
        )
        write_ranked_list(client, result, folder / "list.csv", folder / "list.parquet")

    stage("score", score)
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="reports/bench/bench_scale.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--worker-memory-gb", type=float, default=WORKER_MEMORY_GB)
    parser.add_argument("--work-dir", default="artifacts/bench-scale")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    from ntl.distributed.cluster import describe, start_local_cluster

    reference = reference_seconds()
    print(f"reference workload {reference:.1f} s", flush=True)
    limit = int(args.worker_memory_gb * 1e9)
    work = ROOT / args.work_dir
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    client = start_local_cluster(args.workers, memory_limit=limit)
    try:
        cluster = describe(client)
        for n_customers in args.sizes:  # the report is rewritten after each size
            size_reference = reference_seconds()  # the machine's load now, next to the stages
            for row in (size_rows := run_size(client, n_customers, work, limit, args.seed)):
                row["reference_seconds"] = round(size_reference, 2)
            rows += size_rows
            report = summary(rows, args.sizes, reference, cluster)
            out.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        cluster_object = client.cluster
        client.close()
        cluster_object.close()
    print(f"ratios: {report['time_ratios']} (linear = {report['linear_ratio']})")
    print(f"wrote {out}")
    return 0 if report["every_worker_under_limit"] and not report["workers_restarted"] else 1


def summary(rows: list[dict], sizes: list[int], reference: float, cluster: dict) -> dict:
    """The JSON report of the sizes measured so far: rows, totals and largest / smallest ratios."""
    for (
        row
    ) in rows:  # against the reference timed just before its size: load moves on a shared machine
        row["reference_multiple"] = round(row["seconds"] / row["reference_seconds"], 2)
    done = sorted({r["customers"] for r in rows})
    smallest, largest = done[0], done[-1]
    ratios = {}
    for name in ("generate", "preprocess", "train", "score"):
        seconds = {r["customers"]: r["seconds"] for r in rows if r["stage"] == name}
        ratios[name] = round(seconds[largest] / seconds[smallest], 2)
    totals = {n: round(sum(r["seconds"] for r in rows if r["customers"] == n), 2) for n in done}
    ratios["all_stages"] = round(totals[largest] / totals[smallest], 2)
    multiples = {
        n: round(sum(r["reference_multiple"] for r in rows if r["customers"] == n), 2) for n in done
    }
    ratios["all_stages_in_reference_multiples"] = round(multiples[largest] / multiples[smallest], 2)
    return {
        "n_days": N_DAYS,
        "sizes_requested": sizes,
        "sizes_done": done,
        "cluster": {**cluster, "processes": True},
        "model_settings": MODEL_SETTINGS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "reference_workload_seconds": round(reference, 2),
        "client_peak_memory_gb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3
        ),
        "seconds_total": {str(n): s for n, s in totals.items()},
        "reference_multiples_total": {str(n): m for n, m in multiples.items()},
        "time_ratios": {"largest_over_smallest": f"{largest} / {smallest}", **ratios},
        "linear_ratio": round(largest / smallest, 2),
        "every_worker_under_limit": all(r["under_limit"] for r in rows),
        "workers_restarted": sum(r["workers_restarted"] for r in rows),
        "stages": rows,
    }


if __name__ == "__main__":
    sys.exit(main())
