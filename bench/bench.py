"""Time and peak memory per stage at SGCC scale: a measurement, not a test.

Each stage runs in its own child process; its wall time is measured here and its peak resident
memory is the child's (and its reaped children's, e.g. the notebook kernel's) ``ru_maxrss`` from
``wait4``. Writes one JSON with a row per stage next to the issue's target for it.

Seconds differ by machine (the same commit took 68 s and 115 s for the chain on two machines of
one kind), so the same run also times a fixed reference workload -- a pandas read of the bench CSV
and a fixed single-threaded XGBoost fit, once before the reads and once at the end (the mean is
the reference) -- and reports every stage as a multiple of it
(``reference_multiple``). Compare multiples across machines and commits, not seconds.

    python bench/bench.py --params params/sgcc-scale.yaml --out reports/bench/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The issues' targets: seconds and peak GB per stage (None where no target is set).
TARGETS = {
    "synth_generate": (20, None),
    "io_read_sgcc_csv": (15, 2.5),
    "nb01_data_generation_eda": (None, None),
    "nb02_preprocessing_clustering": (30, 3.0),
    "nb03_modeling": (60, None),
    "nb04_evaluation_risk": (None, None),
    "score_cli_end_to_end": (10, None),
    # 2,000 customers x 365 days x 48 half hours, long layout (bench/interval_bench.py)
    "interval_generate_halfhourly": (None, None),
    "io_read_halfhourly_csv": (30, 2.0),
    "io_read_halfhourly_parquet": (30, 2.0),
    "serve_upload_sgcc_to_list": (15, None),
    "serve_single_customer_p50": (0.020, None),
    "serve_single_customer_p99": (0.100, None),
    "monitor_cli_end_to_end": (15, None),
    "mlflow_log_chain_run": (5, None),
    "mlflow_log_cold_process": (5, None),
}


def measure(name: str, command: list[str]) -> dict:
    """Run `command` as a child; return its wall time, peak RSS and exit code."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    peak_gb = usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    target_s, target_gb = TARGETS.get(name, (None, None))
    row = {
        "stage": name,
        "seconds": round(seconds, 2),
        "peak_memory_gb": round(peak_gb, 3),
        "target_seconds": target_s,
        "target_peak_gb": target_gb,
        "exit_code": code,
    }
    verdict = "" if code == 0 else f"  FAILED (exit {code})"
    print(f"{name:32s} {seconds:7.1f} s  {peak_gb:6.2f} GB{verdict}", flush=True)
    return row


def python_stage(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def reference_workload(csv_path: Path) -> list[str]:
    """The fixed yardstick: read the bench CSV with pandas, fit a fixed XGBoost on one thread.

    Nothing of ntl runs in it, so its time moves with the machine and not with the code.
    """
    return python_stage(
        "import numpy as np, pandas as pd, xgboost as xgb; "
        f"pd.read_csv({str(csv_path)!r}); "
        "rng = np.random.default_rng(0); x = rng.normal(size=(20000, 40)).astype('float32'); "
        "y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=20000) > 1).astype(int); "
        "xgb.XGBClassifier(n_estimators=200, max_depth=6, n_jobs=1, tree_method='hist', "
        "random_state=0).fit(x, y)"
    )


def serve_rows(artifacts: Path, csv_path: Path, reports: Path) -> list[dict]:
    """The web app under load (bench/serve_bench.py): SGCC upload to the list, single-customer
    latency with 20 clients for 30 s, and memory over 50 uploads, as rows of the report."""
    out = reports / "serve_bench.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "serve_bench.py"),
        "--artifacts",
        str(artifacts),
    ]
    run = measure("serve_bench", [*command, "--csv", str(csv_path), "--out", str(out)])
    if run["exit_code"] != 0 or not out.exists():
        return [run]
    found = json.loads(out.read_text())
    latency = found["single_customer"]

    def row(stage: str, seconds: float, details: dict) -> dict:
        """One bench row from serve_bench's figures (their own "seconds" is the row's)."""
        target_s, target_gb = TARGETS.get(stage, (None, None))
        extra = {key: value for key, value in details.items() if key != "seconds"}
        return {"stage": stage, "seconds": seconds, "peak_memory_gb": None,
                "target_seconds": target_s, "target_peak_gb": target_gb, "exit_code": 0, **extra}  # fmt: skip

    rows = [
        run,
        row("serve_upload_sgcc_to_list", found["upload_sgcc"]["seconds"], found["upload_sgcc"]),
        row("serve_single_customer_p50", latency["p50_ms"] / 1000, latency),
        row("serve_single_customer_p99", latency["p99_ms"] / 1000, latency),
        row("serve_memory_50_uploads", found["memory"]["total_seconds"], found["memory"]),
    ]
    if "health" in found:  # the HTTP stack's own floor on this machine, for comparison
        rows.append(row("serve_health_p50", found["health"]["p50_ms"] / 1000, found["health"]))
    return rows


def mlflow_rows(artifacts: Path, reports: Path, seed: int) -> list[dict]:
    """What tracking adds to a chain run, on a store that exists (its one-off creation, MLflow's
    table migrations, is done first, unmeasured). ``ntl run`` imports MLflow and opens the
    store on a thread while the notebooks run (``ntl.tracking.start_warm_up``), so what the
    chain waits for is the logging after that warm-up: ``mlflow_log_chain_run``, timed inside
    the process. ``mlflow_log_cold_process`` is a whole process that logs without overlap
    (Python start, import, store, logging): the cost when nothing can be overlapped."""
    log_run = (
        "from ntl.tracking import track_chain_run; "
        f"assert track_chain_run({str(artifacts)!r}, {str(reports)!r}, {{'seed': {seed}}})"
    )
    subprocess.run(python_stage(log_run), cwd=ROOT, check=True)
    timings = reports / "mlflow_log.json"
    warm = (
        "import json, time; from pathlib import Path; from ntl import tracking; "
        "tracking.start_warm_up({}); tracking.wait_for_warm_up(); t = time.perf_counter(); "
        f"assert tracking.track_chain_run({str(artifacts)!r}, {str(reports)!r}, {{'seed': {seed}}}); "
        f"Path({str(timings)!r}).write_text(json.dumps({{'seconds': time.perf_counter() - t}}))"
    )  # fmt: skip
    process = measure("mlflow_log_warm_process", python_stage(warm))
    rows = [measure("mlflow_log_cold_process", python_stage(log_run)), process]
    if process["exit_code"] == 0 and timings.exists():
        seconds = round(json.loads(timings.read_text())["seconds"], 2)
        target_s, _ = TARGETS["mlflow_log_chain_run"]
        rows.append({"stage": "mlflow_log_chain_run", "seconds": seconds, "peak_memory_gb": None,
                     "target_seconds": target_s, "target_peak_gb": None, "exit_code": 0})  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params/sgcc-scale.yaml")
    parser.add_argument("--out", default="reports/bench/bench.json")
    args = parser.parse_args()

    import yaml

    params = yaml.safe_load((ROOT / args.params).read_text()) or {}
    artifacts = ROOT / "artifacts" / "bench"
    reports = ROOT / "reports" / "bench"
    csv_path = artifacts / "sgcc_layout.csv"
    n_customers, n_days = params.get("n_customers", 42372), params.get("n_days", 1035)
    seed = params.get("seed", 42)
    chain = [sys.executable, "-m", "ntl", "run", "--params", args.params, "--no-html"]
    chain += ["--set", f"artifacts_dir={artifacts}", "--set", f"reports_dir={reports}"]

    rows = [
        measure(
            "synth_generate",
            python_stage(
                "from ntl.synth import generate_consumption as g; "
                f"g({n_customers}, n_days={n_days}, seed={seed})"
            ),
        )
    ]
    for number, stem in [
        ("01", "data_generation_eda"),
        ("02", "preprocessing_clustering"),
        ("03", "modeling"),
        ("04", "evaluation_risk"),
    ]:
        rows.append(measure(f"nb{number}_{stem}", [*chain, "--from", number, "--to", number]))

    # A raw SGCC-layout CSV of the same customers (ID first, FLAG last, 2014/1/1-style headers).
    subprocess.run(
        python_stage(
            "import pandas as pd; from ntl.artifacts import ArtifactStore; "
            f"f = ArtifactStore({str(artifacts)!r}).read_parquet('consumption.parquet'); "
            "f = f[[c for c in f.columns if c != 'FLAG'] + ['FLAG']]; "
            "f.columns = [c if c == 'FLAG' else pd.Timestamp(c).strftime('%Y/%-m/%-d') for c in f.columns]; "
            f"f.to_csv({str(csv_path)!r}, float_format='%.2f')"
        ),
        cwd=ROOT,
        check=True,
    )
    reference_runs = [measure("reference_workload", reference_workload(csv_path))]
    rows.append(
        measure(
            "io_read_sgcc_csv",
            python_stage(f"from ntl.io import read_meter_data as r; r({str(csv_path)!r})"),
        )
    )
    rows.append(
        measure(
            "score_cli_end_to_end",
            [
                sys.executable,
                "-m",
                "ntl",
                "score",
                str(csv_path),
                "--artifacts",
                str(artifacts),
                "--out",
                str(reports / "scored_inspection_list.csv"),
                "--quiet",
            ],
        )
    )

    sys.path.insert(0, str(ROOT / "bench"))
    from interval_bench import interval_rows

    rows += interval_rows(measure)  # issue 13: a half-hourly long export to the daily frame
    rows += serve_rows(artifacts, csv_path, reports)

    # Monitoring and tracking write to a store of the bench's own, never the project's.
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{reports / 'mlflow.db'}"
    os.environ["NTL_PROJECT_DIR"] = str(reports / "project")
    rows.append(
        measure(
            "monitor_cli_end_to_end",
            [
                sys.executable,
                "-m",
                "ntl",
                "monitor",
                str(csv_path),
                "--artifacts",
                str(artifacts),
                "--out",
                str(reports / "monitor"),
            ],
        )
    )
    rows += mlflow_rows(artifacts, reports, seed)
    # The yardstick again at the end: a shared machine's load drifts during a run, and the mean of
    # the two brackets the stages between them.
    reference_runs.append(measure("reference_workload", reference_workload(csv_path)))
    reference = {
        **reference_runs[0],
        "seconds": round(sum(run["seconds"] for run in reference_runs) / len(reference_runs), 2),
        "seconds_each": [run["seconds"] for run in reference_runs],
    }
    chain_rows = [row for row in rows if row["stage"].startswith("nb0")]
    rows.append(
        {
            "stage": "chain_total",
            "seconds": round(sum(row["seconds"] for row in chain_rows), 2),
            "peak_memory_gb": max(row["peak_memory_gb"] for row in chain_rows),
            "target_seconds": None,
            "target_peak_gb": None,
            "exit_code": max(row["exit_code"] for row in chain_rows),
        }
    )
    for row in rows:
        row["reference_multiple"] = round(row["seconds"] / reference["seconds"], 2)
        print(f"{row['stage']:32s} {row['reference_multiple']:7.2f} x reference", flush=True)
    rows.append({**reference, "reference_multiple": 1.0})

    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "params": args.params,
        "n_customers": n_customers,
        "n_days": n_days,
        "csv_megabytes": round(csv_path.stat().st_size / 1e6, 1) if csv_path.exists() else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "stages": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
