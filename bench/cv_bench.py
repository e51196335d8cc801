"""Use the labels well? Today's 60/20 scheme against cross-validation on train + validation.

A measurement, not a test. The same synthetic data (generator, theft rate and seed of the
chain) is split as 02 splits it; the test split is read only at the end, by both schemes alike.

- **60/20 (today)**: ``train_models``: XGBoost fitted on the training customers, its rounds
  stopped early, the ensemble weight chosen and the calibrator fitted on validation.
- **CV on train + validation**: the labelled training and validation customers (80 %) cut into
  stratified folds; each fold's XGBoost stops early on its held-out fold, which gives every
  customer an out-of-fold probability and every fold a best round. The final XGBoost is refitted
  on all 80 % with the mean best round; the ensemble weight is chosen on the out-of-fold
  probabilities with the Isolation Forests refitted (label-free) on train + validation.

Calibration does not change the ranking, so PR-AUC compares the two ranking scores; the paired
bootstrap interval (``ntl.evaluate.model_comparison``, 1,000 resamples) says whether the
difference is beyond noise.

    python bench/cv_bench.py --customers 10000 --days 1035 --out reports/bench/cv.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(n_customers: int, n_days: int, seed: int, folds: int, n_boot: int) -> dict:
    """Both schemes on one data set; their test PR-AUC and ROC-AUC with the paired difference."""
    import numpy as np
    import pandas as pd

    from ntl.evaluate import model_comparison
    from ntl.frame import labels
    from ntl.models import train_models
    from ntl.models.bundle import cluster_ids, feature_matrix
    from ntl.models.crossfit import fold_ids
    from ntl.models.ensemble import choose_weight, combine
    from ntl.models.isolation import fit_isolation
    from ntl.models.supervised import fit_xgb, xgb_classifier
    from ntl.preprocess import PreprocessConfig, describe_customers, fit_on_descriptions
    from ntl.split import split_customers
    from ntl.synth import generate_consumption

    consumption, _ = generate_consumption(n_customers, n_days=n_days, seed=seed)
    flag = labels(consumption)
    split = split_customers(flag, fractions=(0.6, 0.2, 0.2), seed=seed)
    train_ids = split.index[split["split"] == "train"]
    config = PreprocessConfig()
    computed = describe_customers(consumption, config)
    preprocessed = fit_on_descriptions(computed, config, seed, fit_on=train_ids).assemble(computed)

    started = time.perf_counter()
    bundle, report = train_models(preprocessed, split, seed=seed, n_jobs=1)
    today_seconds = time.perf_counter() - started

    started = time.perf_counter()
    names = bundle.feature_names
    features = feature_matrix(preprocessed, names)
    clusters = cluster_ids(preprocessed)
    known = flag.notna().to_numpy()
    learn = split["split"].isin(["train", "validation"]).to_numpy()
    rows = learn & known
    y = flag.fillna(0).to_numpy(dtype=np.int64)
    fold = fold_ids(y[rows], folds, seed=seed)
    x_learn, y_learn = features[rows], y[rows]
    oof = np.full(len(y_learn), np.nan)
    best_rounds = []
    for number in range(fold.max() + 1):  # a handful of folds
        held = fold == number
        model = fit_xgb(
            (x_learn[~held], y_learn[~held]),
            (x_learn[held], y_learn[held]),
            report["xgb_params"],
            early_stopping_rounds=50,
            seed=seed,
        )
        best_rounds.append(int(model.best_iteration) + 1)
        oof[held] = model.predict_proba(x_learn[held])[:, 1]
    rounds = int(round(np.mean(best_rounds)))
    final = xgb_classifier({**report["xgb_params"], "n_estimators": rounds}, y_learn, seed=seed)
    final.fit(x_learn, y_learn, verbose=False)
    isolation = fit_isolation(features[learn], clusters[learn], names, seed=seed)
    weight, _ = choose_weight(y_learn, oof, isolation.score(x_learn, clusters[rows]))
    cv_seconds = time.perf_counter() - started

    test = (split["split"] == "test").to_numpy() & known
    x_test = features[test]
    cv_risk = combine(
        final.predict_proba(x_test)[:, 1].astype(np.float64),
        isolation.score(x_test, clusters[test]),
        weight,
    )
    compared = pd.DataFrame(
        {
            "CV on train + validation": cv_risk,
            "60/20 (today)": bundle.score(preprocessed.loc[test])["risk_score"].to_numpy(),
        }
    )
    table = model_comparison(y[test], compared, n_boot=n_boot, seed=seed)
    return {
        "customers": n_customers,
        "n_days": n_days,
        "folds": int(fold.max() + 1),
        "best_rounds_per_fold": best_rounds,
        "rounds_refit": rounds,
        "rounds_today": report["best_iteration"] + 1,
        "weight_cv": weight,
        "weight_today": bundle.ensemble_weight,
        "seconds_today": round(today_seconds, 2),
        "seconds_cv": round(cv_seconds, 2),
        "models": json.loads(table.to_json(orient="records")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=1035)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default="reports/bench/cv.json")
    args = parser.parse_args()
    if args.customers < 100 or args.days < 14 or args.folds < 2:
        print("--customers must be >= 100, --days >= 14 and --folds >= 2")
        return 2
    result = measure(args.customers, args.days, args.seed, args.folds, args.n_boot)
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    for model in result["models"]:
        difference = (
            ""
            if model.get("pr_auc_diff") is None
            else f"  CV minus today {model['pr_auc_diff']:+.3f} "
            f"({model['pr_auc_diff_low']:+.3f} to {model['pr_auc_diff_high']:+.3f})"
        )
        print(
            f"{model['model']:26s} PR-AUC {model['pr_auc']:.3f} "
            f"({model['pr_auc_low']:.3f}-{model['pr_auc_high']:.3f}){difference}"
        )
    print(
        f"rounds: today {result['rounds_today']}, CV {result['rounds_refit']} "
        f"(folds {result['best_rounds_per_fold']}); weight today {result['weight_today']}, "
        f"CV {result['weight_cv']}; seconds today {result['seconds_today']}, CV "
        f"{result['seconds_cv']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
