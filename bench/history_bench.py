"""How the models fare by history length: a measurement, not a test.

For each history length (28, 56, 90, 365 and 1,035 days by default) the same generator with the
same theft rate and seed draws `--customers` customers; the chain's library calls then run as
notebooks 02 and 03 run them (split first, preprocessing fitted on the training customers,
`train_models`), and the held-out test split measures three rankings with 95 % stratified
bootstrap intervals (``ntl.evaluate.model_comparison``, the intervals of notebook 04):

- the headline model (``risk_score``: the ensemble on the engineered and shape features),
- the raw-readings baseline (XGBoost on the readings alone, ``ntl.models.readings``),
- XGBoost on the engineered features alone, without the shape features (the model before them),
- and, to tell the features from the ensemble, the headline's own XGBoost (features + shape);
- the three label-free detectors of 03 (Isolation Forest, One-Class SVM, autoencoder).

The difference columns are paired: headline minus each model on the same resamples, so an
interval wholly above 0 is a real gain. ``train_seconds`` is `train_models` (the bulk of 03), also
as a multiple of the bench's reference workload (``bench/bench.py``), timed before and after.

    python bench/history_bench.py --customers 10000 --out reports/bench/history.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LENGTHS = (28, 56, 90, 365, 1035)
HEADLINE = "headline (risk_score)"
RAW = "raw readings XGBoost"
FEATURES_ONLY = "features-only XGBoost"
HEADLINE_XGB = "headline's XGBoost (features + shape)"


def reference_seconds(csv_path: Path) -> float:
    """Wall time of the bench's fixed reference workload (bench.bench.reference_workload)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import reference_workload

    started = time.perf_counter()
    subprocess.run(reference_workload(csv_path), check=True, cwd=ROOT)
    return time.perf_counter() - started


def measure_length(
    n_customers: int, n_days: int, seed: int, n_boot: int, xgb_params: dict | None = None
) -> dict:
    """Generate, preprocess, train and measure one history length; one row of the table."""
    import numpy as np
    import pandas as pd

    from ntl.evaluate import model_comparison
    from ntl.features import SHAPE_FEATURES
    from ntl.frame import META_COLUMNS, feature_columns, labels
    from ntl.models import train_models
    from ntl.preprocess import PreprocessConfig, describe_customers, fit_on_descriptions
    from ntl.split import split_customers
    from ntl.synth import generate_consumption

    consumption, _truth = generate_consumption(n_customers, n_days=n_days, seed=seed)
    flag = labels(consumption)
    split = split_customers(flag, fractions=(0.6, 0.2, 0.2), seed=seed)
    train = split.index[split["split"] == "train"]
    config = PreprocessConfig()
    computed = describe_customers(consumption, config)
    preprocessed = fit_on_descriptions(computed, config, seed, fit_on=train).assemble(computed)
    started = time.perf_counter()
    options = {"seed": seed, "n_jobs": 1, "xgb_params": xgb_params or {}}
    bundle, report = train_models(preprocessed, split, consumption, **options)
    train_seconds = time.perf_counter() - started
    engineered = [c for c in feature_columns(preprocessed) if c not in SHAPE_FEATURES]
    features_only, _ = train_models(preprocessed[[*META_COLUMNS, *engineered]], split, **options)
    test = (split["split"] == "test").to_numpy() & flag.notna().to_numpy()
    rows = preprocessed.loc[test]
    scores = bundle.score(rows)
    compared = pd.DataFrame(
        {
            HEADLINE: scores["risk_score"],
            HEADLINE_XGB: scores["xgb_probability"],
            RAW: bundle.readings.predict(consumption.loc[rows.index]),
            FEATURES_ONLY: features_only.score(rows)["xgb_probability"],
            "isolation_forest (label-free)": scores["anomaly_score"],
            **{
                f"{kind} (label-free)": column
                for kind, column in bundle.score_detectors(rows).items()
            },
        }
    )
    y = flag[test].astype(int).to_numpy()
    table = model_comparison(y, compared, n_boot=n_boot, seed=seed)
    return {
        "n_days": n_days,
        "customers": n_customers,
        "test_customers": int(test.sum()),
        "test_thieves": int(y.sum()),
        "features": len(feature_columns(preprocessed)),
        "shape_features": len(SHAPE_FEATURES),
        "train_seconds": round(train_seconds, 2),
        "train_steps": report["times"],
        "ensemble_weight": bundle.ensemble_weight,
        "models": json.loads(table.to_json(orient="records")),
        "headline_pr_auc_check": float(np.round(table.iloc[0]["pr_auc"], 4)),
    }


def markdown_table(rows: list[dict]) -> str:
    """The table quoted in DESIGN.md: PR-AUC and ROC-AUC with intervals, paired differences."""

    def interval(model: dict, metric: str) -> str:
        return f"{model[metric]:.3f} ({model[metric + '_low']:.3f}-{model[metric + '_high']:.3f})"

    def difference(model: dict, metric: str) -> str:
        low, high = model.get(f"{metric}_diff_low"), model.get(f"{metric}_diff_high")
        return "" if low is None else f"{model[metric + '_diff']:+.3f} ({low:+.3f} to {high:+.3f})"

    lines = [
        "| days | model | test PR-AUC | test ROC-AUC | headline minus model, PR-AUC | 03 train s (x ref) |",
        "|---:|---|---|---|---|---:|",
    ]
    for row in rows:
        for position, model in enumerate(row["models"]):
            seconds = (
                f"{row['train_seconds']:.1f} ({row['train_multiple']:.2f})" if position == 0 else ""
            )
            lines.append(
                f"| {row['n_days'] if position == 0 else ''} | {model['model']} | "
                f"{interval(model, 'pr_auc')} | {interval(model, 'roc_auc')} | "
                f"{difference(model, 'pr_auc')} | {seconds} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--lengths", default=",".join(str(n) for n in LENGTHS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="XGBoost's step (default: 03's)"
    )
    parser.add_argument("--out", default="reports/bench/history.json")
    args = parser.parse_args()
    xgb_params = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    try:
        lengths = [int(n) for n in args.lengths.split(",")]
    except ValueError:
        print(f"--lengths: comma-separated whole numbers of days, got {args.lengths!r}")
        return 2
    if args.customers < 100 or min(lengths) < 14:
        print("--customers must be >= 100 and every length >= 14 days")
        return 2
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out.parent / "history_reference.csv"
    import numpy as np
    import pandas as pd

    pd.DataFrame(np.random.default_rng(0).gamma(3.0, 2.0, (20_000, 40))).to_csv(csv_path)
    reference = [reference_seconds(csv_path)]
    rows = []
    for n_days in lengths:  # five lengths
        row = measure_length(args.customers, n_days, args.seed, args.n_boot, xgb_params)
        rows.append(row)
        head = row["models"][0]
        print(
            f"{n_days:5d} days  headline PR-AUC {head['pr_auc']:.3f}  "
            + "  ".join(f"{m['model']} {m['pr_auc']:.3f}" for m in row["models"][1:])
            + f"  train {row['train_seconds']:.1f} s",
            flush=True,
        )
    reference.append(reference_seconds(csv_path))
    reference_s = sum(reference) / len(reference)
    for row in rows:
        row["train_multiple"] = round(row["train_seconds"] / reference_s, 3)
    report = {"reference_seconds": round(reference_s, 2), "rows": rows}
    out.write_text(json.dumps(report, indent=2))
    out.with_suffix(".md").write_text(markdown_table(rows) + "\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
