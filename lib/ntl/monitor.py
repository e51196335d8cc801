"""Monitoring a new month against the training population: drift, coverage, performance, decision.

``ntl monitor FILE --artifacts DIR`` reads the new file and scores its latest window as long as
the training history (features span the whole history, so only equal lengths compare; a longer
export is cut to its last days, a shorter one is refused) through the scorer's own path
(``ntl.score.score_consumption``, no reason codes), and checks, against the run that serves:

- **drift**: PSI of every feature and of the scores against ``drift_baseline.json``
  (``ntl.drift.drift_report``, the scorer's own report);
- **readings**: the share of missing and of zero readings, now and at training;
- **customers**: customers new since training and customers that vanished from the file;
- **capacity**: the share of customers in the high tier against the share the thresholds were
  fitted to (a high tier far from capacity means the scores moved);
- **performance**: with inspection outcomes on record (``ntl.outcomes``), the hit rate of the
  inspections made since training, with its Wilson interval, against the precision the model card
  promised (the test hit rate at the operational threshold, with its interval).

Each check has a threshold (``MonitorThresholds``, defaults stated there and in ``--help``); a check
past its threshold is a reason to retrain. The command writes ``monitor.json`` and a readable
``monitor.md``, logs both to MLflow when tracking is on, and exits 0 (all well), 3 (retraining
recommended, reasons listed) or 2 (bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ntl._version import __version__
from ntl.errors import ParameterError
from ntl.frame import day_index

RETRAIN_EXIT = 3


@dataclass(frozen=True)
class MonitorThresholds:
    """When a check recommends retraining (every one is a ``--flag`` of ``ntl monitor``)."""

    psi_alert: float = 0.2  # PSI above this: the variable shifted (the drift report's alert)
    shifted_features_allowed: int = 0  # retrain when more features than this shifted
    score_psi_alert: float = 0.2  # retrain when the risk score's PSI is above this
    missing_share_change: float = 0.10  # retrain when the missing share moved more than this
    zero_share_change: float = 0.10  # retrain when the zero-reading share moved more than this
    new_customer_share: float = 0.25  # retrain when more than this share of customers is new
    vanished_customer_share: float = 0.25  # ... or this share of the training customers vanished
    high_tier_ratio_low: float = 0.5  # retrain when the high tier holds under this x capacity
    high_tier_ratio_high: float = 2.0  # ... or over this x capacity
    min_inspections: int = 20  # fewest inspections since training to judge the hit rate

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not np.isfinite(value) or value < 0:
                raise ParameterError(f"--{item.name.replace('_', '-')} must be >= 0, got {value}")
        if self.high_tier_ratio_low > self.high_tier_ratio_high:
            raise ParameterError("--high-tier-ratio-low must not exceed --high-tier-ratio-high")


def reading_counts(consumption: pd.DataFrame) -> np.ndarray:
    """Readings of a consumption frame: cells (customers x days), present ones, zero ones."""
    days = day_index(consumption)
    values = consumption[[f"{d:%Y-%m-%d}" for d in days]].to_numpy(dtype=np.float32)
    present = int((~np.isnan(values)).sum())
    return np.array([values.size, present, int((values == 0).sum())], dtype=np.int64)


def shares_of_counts(counts: np.ndarray) -> dict[str, float]:
    """Missing share (of all cells) and zero share (of present readings) from reading_counts
    (summed over the parts of a partitioned run)."""
    cells, present, zeros = (int(value) for value in counts)
    return {
        "missing_share": float(1.0 - present / cells) if cells else float("nan"),
        "zero_share": float(zeros / present) if present else float("nan"),
    }


def reading_shares(consumption: pd.DataFrame) -> dict[str, float]:
    """Share of missing readings and of zero readings (among present ones) of a consumption frame."""
    return shares_of_counts(reading_counts(consumption))


def training_readings(store: Any) -> tuple[dict[str, float], pd.Index]:
    """The run's training readings' shares and its customers: from ``consumption.parquet``, or
    on a Dask run from its parts, one part at a time (customers from ``split.parquet``)."""
    if store.exists("consumption.parquet") or not store.exists("consumption_dataset.json"):
        trained = store.read_parquet("consumption.parquet")
        return reading_shares(trained), trained.index
    from ntl.distributed.chain import read_consumption  # no Dask import: reads the parts here

    dataset = read_consumption(store)
    counts = sum(reading_counts(dataset.read_part(i)) for i in range(len(dataset.parts)))
    return shares_of_counts(counts), store.read_parquet("split.parquet").index


def customer_changes(new: pd.Index, trained: pd.Index) -> dict[str, Any]:
    """Customers new since training and customers of training absent from the new file."""
    new_ids, old_ids = new.astype(str), trained.astype(str)
    fresh = new_ids.difference(old_ids)
    vanished = old_ids.difference(new_ids)
    return {
        "n_customers": int(len(new_ids)),
        "n_trained": int(len(old_ids)),
        "new": int(len(fresh)),
        "new_share": float(len(fresh) / len(new_ids)) if len(new_ids) else 0.0,
        "vanished": int(len(vanished)),
        "vanished_share": float(len(vanished) / len(old_ids)) if len(old_ids) else 0.0,
        "new_examples": fresh[:5].tolist(),
        "vanished_examples": vanished[:5].tolist(),
    }


def promised_precision(
    evaluation: dict[str, Any], thresholds: dict[str, Any]
) -> dict[str, Any] | None:
    """The precision the model card promised at the operational threshold, with its interval:
    the test precision of evaluation.json (the card's "Operating point"), else the validation
    precision of thresholds.json (no interval)."""
    at = evaluation.get("test", {}).get("threshold") or {}
    precision = at.get("precision")
    if precision is not None and np.isfinite(precision):
        return {
            "source": "test precision at the operational threshold (evaluation.json, model card)",
            "precision": float(precision),
            "low": at.get("precision_low"),
            "high": at.get("precision_high"),
        }
    expected = thresholds.get("expected", {}).get("precision")
    if expected is None:
        return None
    return {
        "source": "validation precision at the operational threshold (thresholds.json)",
        "precision": float(expected),
        "low": None,
        "high": None,
    }


def performance_check(
    outcomes: pd.DataFrame, since: pd.Timestamp, promised: dict[str, Any] | None
) -> dict[str, Any]:
    """Hit rate of the inspections dated on or after `since`, Wilson interval, vs `promised`."""
    from ntl.evaluate import wilson_interval
    from ntl.outcomes import inspections_since

    recent = inspections_since(outcomes, since)
    n, hits = int(len(recent)), int((recent["outcome"] == "theft").sum()) if len(recent) else 0
    low, high = wilson_interval(hits, n) if n else (float("nan"), float("nan"))
    return {
        "since": f"{pd.Timestamp(since):%Y-%m-%d}",
        "inspections": n,
        "thefts": hits,
        "hit_rate": hits / n if n else None,
        "hit_rate_low": None if n == 0 else float(low),
        "hit_rate_high": None if n == 0 else float(high),
        "promised": promised,
    }


def reasons_to_retrain(report: dict[str, Any], limits: MonitorThresholds) -> list[str]:
    """Every check past its threshold, in words (empty: all well)."""
    reasons = []
    drift = report["drift"]
    shifted = drift["shifted_features"]
    if len(shifted) > limits.shifted_features_allowed:
        named = ", ".join(f"{v['variable']} (PSI {v['psi']:.2f})" for v in shifted[:10])
        reasons.append(
            f"{len(shifted)} feature(s) shifted (PSI > {limits.psi_alert}): {named}"
            + (f" and {len(shifted) - 10} more" if len(shifted) > 10 else "")
        )
    score_psi = drift["score_psi"]
    if score_psi is not None and score_psi > limits.score_psi_alert:
        reasons.append(f"risk_score shifted: PSI {score_psi:.2f} > {limits.score_psi_alert}")
    for name, limit in (
        ("missing_share", limits.missing_share_change),
        ("zero_share", limits.zero_share_change),
    ):
        now, then = report["readings"]["now"][name], report["readings"]["training"][name]
        if abs(now - then) > limit:
            reasons.append(
                f"{name.replace('_', ' ')} of readings moved from {then:.1%} to {now:.1%} "
                f"(more than {limit:.0%} points)"
            )
    customers = report["customers"]
    if customers["new_share"] > limits.new_customer_share:
        reasons.append(
            f"{customers['new']:,} customers ({customers['new_share']:.0%}) were not in training "
            f"(limit {limits.new_customer_share:.0%})"
        )
    if customers["vanished_share"] > limits.vanished_customer_share:
        reasons.append(
            f"{customers['vanished']:,} training customers ({customers['vanished_share']:.0%}) are "
            f"not in the file (limit {limits.vanished_customer_share:.0%})"
        )
    ratio = report["capacity"]["ratio"]
    if ratio is not None and not (
        limits.high_tier_ratio_low <= ratio <= limits.high_tier_ratio_high
    ):
        reasons.append(
            f"the high tier holds {report['capacity']['high_share']:.1%} of customers, "
            f"{ratio:.2f} x the capacity of {report['capacity']['capacity_share']:.1%} "
            f"(allowed {limits.high_tier_ratio_low:g}-{limits.high_tier_ratio_high:g} x)"
        )
    performance = report["performance"]
    promised = performance["promised"]
    if performance["inspections"] >= limits.min_inspections and promised:
        bar = promised["low"] if promised["low"] is not None else promised["precision"]
        if performance["hit_rate_high"] < bar:
            reasons.append(
                f"inspections since {performance['since']} found theft in "
                f"{performance['thefts']} of {performance['inspections']} "
                f"({performance['hit_rate']:.1%}, 95 % interval {performance['hit_rate_low']:.1%}"
                f"-{performance['hit_rate_high']:.1%}), below the promised "
                f"{promised['precision']:.1%} (lower bound {bar:.1%})"
            )
    return reasons


def training_date(store: Any) -> pd.Timestamp:
    """When the serving model was trained: the day its thresholds were written."""
    written = store.record("thresholds.json")["written_at"]
    return pd.Timestamp(written).tz_convert(None).normalize()


def trained_days(loaded: Any) -> int:
    """The history length (days) the run's models were trained on."""
    history = (loaded.drift_baseline or {}).get("history", {})
    return int(history.get("n_days") or loaded.preprocessor.fitted_on.get("days", 0) or 0)


def history_window(consumption: pd.DataFrame, n_days: int, source: str = "file") -> pd.DataFrame:
    """The last `n_days` days of `consumption`: a new export on the history length of training.

    Features are computed over the whole history, so only a window as long as the training
    history compares like with like (``ntl.drift.comparable_history``). A longer file is cut to
    its latest `n_days`; a shorter one (beyond the drift tolerance) is refused.
    """
    from ntl.drift import HISTORY_TOLERANCE

    days = day_index(consumption)
    if n_days <= 0 or len(days) <= n_days:
        if n_days > 0 and len(days) < (1 - HISTORY_TOLERANCE) * n_days:
            raise ParameterError(
                f"{source}: {len(days)} days of history, but the model was trained on {n_days}: "
                f"monitoring compares like with like and needs at least "
                f"{int(np.ceil((1 - HISTORY_TOLERANCE) * n_days))} days"
            )
        return consumption
    keep = [f"{d:%Y-%m-%d}" for d in days[-n_days:]]
    labels = [c for c in consumption.columns if c == "FLAG"]
    return consumption[labels + keep]


def monitor(
    input_path: str | Path,
    artifacts_dir: str | Path,
    outcomes: pd.DataFrame,
    limits: MonitorThresholds | None = None,
    read_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every check on `input_path` against the run in `artifacts_dir`; the JSON-ready report."""
    from ntl.drift import drift_report
    from ntl.score import read_while_loading, score_consumption
    from ntl.thresholds import assign_tiers

    limits = limits or MonitorThresholds()
    loaded, consumption, _ = read_while_loading(input_path, artifacts_dir, read_options)
    if loaded.drift_baseline is None:
        raise ParameterError(
            f"{artifacts_dir} has no drift_baseline.json: monitor a run that finished notebook 04"
        )
    days_in_file = len(day_index(consumption))
    window = history_window(consumption, trained_days(loaded), str(input_path))
    scored = score_consumption(window, loaded, reasons_for_top=0)
    drift = drift_report(
        loaded.drift_baseline,
        scored.preprocessed,
        scored.scores,
        limits.psi_alert,
        n_days=len(day_index(window)),
    )
    store = loaded.store
    evaluation = store.read_json("evaluation.json") if store.exists("evaluation.json") else {}
    training_shares, trained_customers = training_readings(store)
    features = drift[drift["kind"] == "feature"]
    score_rows = drift[(drift["kind"] == "score") & (drift["variable"] == "risk_score")]
    tiers = assign_tiers(scored.scores["risk_score"], loaded.thresholds)
    high_share = float((tiers == "high").mean())
    capacity_share = float(loaded.thresholds["capacity"]["flagged_share"])
    window_days = day_index(window)
    report: dict[str, Any] = {
        "ntl_version": __version__,
        "input": str(input_path),
        "artifacts": str(artifacts_dir),
        "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "thresholds": asdict(limits),
        "history": {
            "days_in_file": days_in_file,
            "days_compared": len(window_days),
            "first_day": f"{window_days[0]:%Y-%m-%d}",
            "last_day": f"{window_days[-1]:%Y-%m-%d}",
            "trained_days": trained_days(loaded),
        },
        "drift": {
            "shifted_features": [
                {"variable": r.variable, "psi": float(r.psi)}
                for r in features[features["alert"]].itertuples()
            ],
            "score_psi": float(score_rows["psi"].iloc[0]) if len(score_rows) else None,
            "variables": drift.replace({np.nan: None}).to_dict(orient="records"),
        },
        "readings": {"now": reading_shares(window), "training": training_shares},
        "customers": customer_changes(consumption.index, trained_customers),
        "capacity": {
            "high_share": high_share,
            "capacity_share": capacity_share,
            "ratio": high_share / capacity_share if capacity_share > 0 else None,
        },
        "performance": performance_check(
            outcomes, training_date(store), promised_precision(evaluation, loaded.thresholds)
        ),
    }
    reasons = reasons_to_retrain(report, limits)
    report |= {"retrain": bool(reasons), "reasons": reasons}
    return report


def markdown_report(report: dict[str, Any]) -> str:
    """The monitoring report for a person: the decision first, then each check."""
    verdict = "**Retraining recommended.**" if report["retrain"] else "**All well.**"
    lines = [
        "# ntl monitoring report",
        "",
        f"`{report['input']}` against the run `{report['artifacts']}` "
        f"(checked {report['checked_at']}, ntl {report['ntl_version']}).",
        "",
        *([_history_sentence(report["history"]), ""] if report.get("history") else []),
        verdict,
        "",
        *[f"- {reason}" for reason in report["reasons"]],
        "",
        "## Readings",
        "",
        "| | training | now |",
        "|---|---|---|",
    ]
    for name in ("missing_share", "zero_share"):
        now, then = report["readings"]["now"][name], report["readings"]["training"][name]
        lines.append(f"| {name.replace('_', ' ')} | {then:.1%} | {now:.1%} |")
    c = report["customers"]
    cap = report["capacity"]
    perf = report["performance"]
    lines += [
        "",
        "## Customers and capacity",
        "",
        f"- {c['n_customers']:,} customers now, {c['n_trained']:,} at training: {c['new']:,} new "
        f"({c['new_share']:.1%}), {c['vanished']:,} vanished ({c['vanished_share']:.1%}).",
        f"- High tier: {cap['high_share']:.1%} of customers against a capacity of "
        f"{cap['capacity_share']:.1%}"
        + (f" ({cap['ratio']:.2f} x)." if cap["ratio"] is not None else "."),
        "",
        "## Performance on inspections since training",
        "",
    ]
    if perf["inspections"]:
        lines.append(
            f"- {perf['inspections']:,} inspections since {perf['since']}, {perf['thefts']:,} "
            f"found theft: hit rate {perf['hit_rate']:.1%} (95 % interval "
            f"{perf['hit_rate_low']:.1%}-{perf['hit_rate_high']:.1%})."
        )
    else:
        lines.append(f"- No inspection outcomes recorded since {perf['since']}.")
    if perf["promised"]:
        p = perf["promised"]
        bounds = f" (interval {p['low']:.1%}-{p['high']:.1%})" if p["low"] is not None else ""
        lines.append(f"- Promised: {p['precision']:.1%}{bounds}, {p['source']}.")
    lines += [
        "",
        "## Drift (PSI against the training population, highest first)",
        "",
        "| variable | kind | PSI | status | median at training | median now |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["drift"]["variables"][:25]:
        lines.append(
            f"| {row['variable']} | {row['kind']} | {row['psi']:.3f} | {row['status']} | "
            f"{_num(row.get('baseline_median'))} | {_num(row.get('median'))} |"
        )
    return "\n".join(lines) + "\n"


def _history_sentence(history: dict[str, Any]) -> str:
    cut = (
        f"the last {history['days_compared']} of its {history['days_in_file']} days"
        if history["days_compared"] < history["days_in_file"]
        else f"its {history['days_compared']} days"
    )
    return (
        f"Compared: {cut} ({history['first_day']} to {history['last_day']}), the history length "
        f"the model was trained on ({history['trained_days']} days)."
    )


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.3g}"


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """monitor.json and monitor.md in `out_dir`, each written atomically."""
    from ntl.artifacts import atomic_write

    json_path, md_path = out_dir / "monitor.json", out_dir / "monitor.md"
    text = json.dumps(report, indent=2, allow_nan=False, default=_plain) + "\n"
    atomic_write(json_path, lambda tmp: tmp.write_text(text))
    atomic_write(md_path, lambda tmp: tmp.write_text(markdown_report(report)))
    return json_path, md_path


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """``ntl monitor``'s arguments: the file, the run, the output folder and every threshold."""
    parser.add_argument("input", help="the new month's meter data file")
    parser.add_argument(
        "--artifacts",
        help="run folder to check against (default: the champion, else artifacts/default)",
    )
    parser.add_argument(
        "--out", help="folder for monitor.json and monitor.md (default: reports/monitor/<UTC time>)"
    )
    parser.add_argument("--layout", default="auto", choices=["auto", "wide", "long"])
    parser.add_argument("--id-column", default="CONS_NO")
    parser.add_argument("--label-column", default="FLAG")
    defaults = MonitorThresholds()
    for item in fields(MonitorThresholds):
        parser.add_argument(
            f"--{item.name.replace('_', '-')}",
            type=type(getattr(defaults, item.name)),
            default=getattr(defaults, item.name),
            help=f"default {getattr(defaults, item.name)}",
        )


def main_monitor(args: argparse.Namespace) -> int:
    """CLI entry: validate, check, write, log; exit 0 (all well) or 3 (retrain recommended)."""
    from ntl.champion import default_artifacts
    from ntl.outcomes import read_store
    from ntl.project import outcomes_dir, project_dir

    limits = MonitorThresholds(**{f.name: getattr(args, f.name) for f in fields(MonitorThresholds)})
    input_path = Path(args.input)
    if not input_path.is_file():
        raise ParameterError(f"{input_path}: no such meter data file")
    artifacts = Path(args.artifacts) if args.artifacts else default_artifacts()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out) if args.out else project_dir() / "reports" / "monitor" / stamp
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"--out {out_dir} is a file, not a folder")
    options = {
        "layout": args.layout,
        "id_column": args.id_column,
        "label_column": args.label_column,
    }
    report = monitor(input_path, artifacts, read_store(outcomes_dir()), limits, options)
    json_path, md_path = write_report(report, out_dir)
    from ntl.tracking import track_monitor

    track_monitor(report, [json_path, md_path])
    if report["retrain"]:
        print("retraining recommended:", file=sys.stderr)
        for reason in report["reasons"]:
            print(f"  - {reason}", file=sys.stderr)
    else:
        print("all well: no check past its threshold")
    print(f"report: {md_path}")
    return RETRAIN_EXIT if report["retrain"] else 0
