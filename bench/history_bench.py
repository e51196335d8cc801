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
interval wholly above 0 is a real gain. With ``--replicates R`` each length is drawn R times
(seeds seed, seed + 1, ..: new customers, split and models each time) and every figure is the
mean over the replicates, its interval that of the mean: each resample of the bootstrap averages
one stratified resample of every replicate's test split (``replicate_comparison``). ``train_seconds`` is `train_models` (the bulk of 03), also
as a multiple of the bench's reference workload (``bench/bench.py``), timed before and after.

    python bench/history_bench.py --customers 10000 --replicates 3 --out reports/bench/history.json
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


def replicate_comparison(samples: list[tuple], n_boot: int, seed: int):
    """``model_comparison`` of the same models over independent replicates, one (labels, scores)
    pair each: the mean of the replicates' point estimates, with percentile intervals of the
    mean of one bootstrap draw per replicate (paired within each replicate, as in the single
    comparison). One replicate is exactly ``model_comparison``."""
    import numpy as np
    import pandas as pd

    from ntl.evaluate import model_comparison
    from ntl.evaluate.intervals import bootstrap_resamples, percentile_interval
    from ntl.evaluate.ranking import pr_auc, roc_auc

    if len(samples) == 1:
        return model_comparison(*samples[0], n_boot=n_boot, seed=seed)
    metrics = {"roc_auc": roc_auc, "pr_auc": pr_auc}
    names = list(samples[0][1].columns)
    draws = [  # a handful of replicates
        bootstrap_resamples(metrics, y, scores, n_boot, seed + offset)
        for offset, (y, scores) in enumerate(samples)
    ]
    mean_draws = sum(draw.to_numpy() for draw in draws) / len(draws)
    column = {key: position for position, key in enumerate(draws[0].columns)}
    points = {
        (metric, name): float(np.mean([fn(y, scores[name]) for y, scores in samples]))
        for metric, fn in metrics.items()
        for name in names
    }
    reference = names[0]
    rows = []
    for name in names:  # a handful of models
        row: dict[str, object] = {"model": name}
        for metric in metrics:
            low, high = percentile_interval(mean_draws[:, column[metric, name]])
            row |= {metric: points[metric, name], f"{metric}_low": low, f"{metric}_high": high}
        for metric in metrics:
            if name == reference:
                row |= dict.fromkeys([f"{metric}_diff{end}" for end in ("", "_low", "_high")])
                continue
            paired = mean_draws[:, column[metric, reference]] - mean_draws[:, column[metric, name]]
            low, high = percentile_interval(paired)
            difference = points[metric, reference] - points[metric, name]
            row |= {f"{metric}_diff": difference, f"{metric}_diff_low": low}
            row[f"{metric}_diff_high"] = high
        rows.append(row)
    return pd.DataFrame(rows)


def measure_replicates(
    n_customers: int,
    n_days: int,
    seed: int,
    n_boot: int,
    replicates: int = 1,
    xgb_params: dict | None = None,
) -> dict:
    """One row of the table: `replicates` draws of one history length (seeds seed, seed + 1 ..)
    measured together by ``replicate_comparison``."""
    import numpy as np

    measured = [
        measure_length(n_customers, n_days, seed + offset, xgb_params)
        for offset in range(replicates)  # a handful
    ]
    table = replicate_comparison([sample for _row, sample in measured], n_boot, seed)
    rows = [row for row, _sample in measured]
    return rows[0] | {
        "replicates": replicates,
        "seeds": [seed + offset for offset in range(replicates)],
        "test_customers": sum(row["test_customers"] for row in rows),
        "test_thieves": sum(row["test_thieves"] for row in rows),
        "train_seconds": round(float(np.mean([row["train_seconds"] for row in rows])), 2),
        "ensemble_weight": [row["ensemble_weight"] for row in rows],
        "models": json.loads(table.to_json(orient="records")),
        "headline_pr_auc_check": float(np.round(table.iloc[0]["pr_auc"], 4)),
    }


def measure_length(
    n_customers: int, n_days: int, seed: int, xgb_params: dict | None = None
) -> tuple[dict, tuple]:
    """Generate, preprocess, train and score one history length: its facts and the test
    split's (labels, scores per model) for ``replicate_comparison``."""
    import pandas as pd

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
    row = {
        "n_days": n_days,
        "customers": n_customers,
        "test_customers": int(test.sum()),
        "test_thieves": int(y.sum()),
        "features": len(feature_columns(preprocessed)),
        "shape_features": len(SHAPE_FEATURES),
        "train_seconds": round(train_seconds, 2),
        "train_steps": report["times"],
        "ensemble_weight": bundle.ensemble_weight,
    }
    return row, (y, compared)


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
        "--replicates", type=int, default=1, help="draws of each length (seeds seed, seed + 1 ..)"
    )
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
    if args.customers < 100 or min(lengths) < 14 or args.replicates < 1:
        print("--customers must be >= 100, every length >= 14 days and --replicates >= 1")
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
        row = measure_replicates(
            args.customers, n_days, args.seed, args.n_boot, args.replicates, xgb_params
        )
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
