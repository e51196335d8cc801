"""Interval-data stages of the bench: a half-hourly long export loaded to the daily frame.

The export (London-trial shape: ``LCLid, tstp, kwh``; 2,000 customers x 365 days x 48 half hours
= 35 M rows, about 1.3 GB of CSV, and the same rows as parquet) is generated once, vectorised and
written in chunks of customers by pyarrow, and cached under ``reports/bench/interval/``.

    python bench/interval_bench.py [--customers 2000] [--days 365] [--out reports/bench/interval.json]

Run alone it also times bench.py's reference workload and reports each stage as a multiple of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "reports" / "bench" / "interval"
CHUNK_CUSTOMERS = 100
MISSING_SHARE = 0.005  # half hours written empty (a missing reading)


def halfhourly_table(first: int, n_customers: int, n_days: int, seed: int) -> pa.Table:
    """Customers first .. first + n_customers - 1: every half hour of `n_days` from 2014-01-01."""
    rng = np.random.default_rng([seed, first])
    slots = n_days * 48
    daily_kwh = rng.lognormal(np.log(9.0), 0.5, n_customers)  # a customer's typical day
    hour = (np.arange(48) + 0.5) / 2
    shape = 0.6 + np.exp(-(((hour - 8) / 1.5) ** 2)) + 1.6 * np.exp(-(((hour - 19) / 2.5) ** 2))
    shape /= shape.sum()
    kwh = daily_kwh[:, None] * np.tile(shape, n_days)[None, :]
    kwh = np.round(kwh * rng.gamma(4.0, 0.25, (n_customers, slots)), 3).reshape(-1)
    names = pa.array([f"MAC{first + i:06d}" for i in range(n_customers)])
    ids = names.take(pa.array(np.repeat(np.arange(n_customers), slots)))
    start = np.datetime64("2014-01-01T00:00:00", "s").astype(np.int64)
    stamps = np.tile(start + np.arange(slots, dtype=np.int64) * 1800, n_customers)
    missing = rng.random(len(kwh)) < MISSING_SHARE
    return pa.table(
        {
            "LCLid": ids,
            "tstp": pa.array(stamps, pa.timestamp("s")),
            "kwh": pa.array(kwh, pa.float64(), mask=missing),
        }
    )


def halfhourly_files(n_customers: int, n_days: int, seed: int = 42) -> tuple[Path, Path]:
    """The cached CSV and parquet export, generated (both in one pass) when absent."""
    stem = CACHE / f"halfhourly_{n_customers}x{n_days}_seed{seed}"
    csv_path, parquet_path = stem.with_suffix(".csv"), stem.with_suffix(".parquet")
    if csv_path.exists() and parquet_path.exists():
        return csv_path, parquet_path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial_csv = csv_path.with_suffix(".csv.partial")
    partial_parquet = parquet_path.with_suffix(".parquet.partial")
    first_chunk = halfhourly_table(0, min(CHUNK_CUSTOMERS, n_customers), n_days, seed)
    with (
        pacsv.CSVWriter(
            partial_csv, first_chunk.schema, write_options=pacsv.WriteOptions(quoting_style="none")
        ) as csv_writer,
        pq.ParquetWriter(partial_parquet, first_chunk.schema) as parquet_writer,
    ):
        for first in range(0, n_customers, CHUNK_CUSTOMERS):  # chunks of customers, not rows
            size = min(CHUNK_CUSTOMERS, n_customers - first)
            chunk = first_chunk if first == 0 else halfhourly_table(first, size, n_days, seed)
            csv_writer.write_table(chunk)
            parquet_writer.write_table(chunk, row_group_size=1 << 20)
    partial_csv.rename(csv_path)
    partial_parquet.rename(parquet_path)
    return csv_path, parquet_path


def read_stage(path: Path) -> list[str]:
    code = (
        "from ntl.io import read_meter_data as r; "
        f"f, rep = r({str(path)!r}, id_column='LCLid', date_column='tstp', value_column='kwh'); "
        "print(' ', f.shape, rep.interval.messages()[0][:80])"
    )
    return [sys.executable, "-c", code]


def interval_rows(measure, n_customers: int = 2000, n_days: int = 365) -> list[dict]:
    """The interval stages, measured with bench.measure (generation, then CSV and parquet reads)."""
    generate = (
        "import sys; sys.path.insert(0, 'bench'); from interval_bench import halfhourly_files; "
        f"halfhourly_files({n_customers}, {n_days})"
    )
    rows = [measure("interval_generate_halfhourly", [sys.executable, "-c", generate])]
    csv_path, parquet_path = halfhourly_files(n_customers, n_days)
    rows.append(measure("io_read_halfhourly_csv", read_stage(csv_path)))
    rows.append(measure("io_read_halfhourly_parquet", read_stage(parquet_path)))
    rows[0]["csv_megabytes"] = round(csv_path.stat().st_size / 1e6, 1)
    rows[0]["rows"] = n_customers * n_days * 48
    return rows


def reference_csv() -> Path:
    """The SGCC-layout CSV the reference workload reads: the full bench's, else made here."""
    path = ROOT / "artifacts" / "bench" / "sgcc_layout.csv"
    if not path.exists():
        import pandas as pd

        from ntl.synth import generate_consumption

        frame, _ = generate_consumption(42372, n_days=1035, seed=42)
        frame = frame[[c for c in frame.columns if c != "FLAG"] + ["FLAG"]]
        frame.columns = [
            c if c == "FLAG" else pd.Timestamp(c).strftime("%Y/%-m/%-d") for c in frame.columns
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path.with_suffix(".partial"), float_format="%.2f")
        path.with_suffix(".partial").rename(path)
    return path


def main() -> int:
    """Only the interval stages, with the reference workload timed beside them."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import measure, reference_workload

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--out", default="reports/bench/interval.json")
    args = parser.parse_args()
    reference = measure("reference_workload", reference_workload(reference_csv()))
    rows = interval_rows(measure, args.customers, args.days)
    for row in rows:
        row["reference_multiple"] = round(row["seconds"] / reference["seconds"], 2)
        print(f"{row['stage']:32s} {row['reference_multiple']:7.2f} x reference", flush=True)
    rows.append({**reference, "reference_multiple": 1.0})
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"stages": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
