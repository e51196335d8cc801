"""The realism band: synthetic theft is detectable but hard, like the real SGCC data.

A plain XGBoost (default parameters) on simple per-customer statistics must reach an
out-of-fold ROC-AUC between 0.75 (there is signal to learn) and 0.92 (not trivially separable:
normal customers have the legitimate look-alikes that cause real false positives).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from xgboost import XGBClassifier

from ntl.frame import consumption_matrix
from ntl.synth import generate_consumption


def simple_statistics(matrix: np.ndarray) -> pd.DataFrame:
    """Level, spread, extremes, zeros, missingness and late/early level ratio per customer."""
    third = matrix.shape[1] // 3
    observed = np.maximum(1, (~np.isnan(matrix)).sum(axis=1))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=1)
        std = np.nanstd(matrix, axis=1)
        return pd.DataFrame(
            {
                "mean": mean,
                "std": std,
                "cv": std / mean,
                "min": np.nanmin(matrix, axis=1),
                "max": np.nanmax(matrix, axis=1),
                "median": np.nanmedian(matrix, axis=1),
                "zero_share": (matrix == 0).sum(axis=1) / observed,
                "missing_share": np.isnan(matrix).mean(axis=1),
                "late_to_early": np.nanmean(matrix[:, -third:], axis=1)
                / np.nanmean(matrix[:, :third], axis=1),
            }
        )


def test_plain_xgboost_on_simple_statistics_lands_in_the_realism_band():
    frame, _ = generate_consumption(3000, seed=42)
    features = simple_statistics(consumption_matrix(frame))
    target = frame["FLAG"].to_numpy(dtype=int)
    model = XGBClassifier(n_jobs=1, random_state=0)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_predict(model, features, target, cv=folds, method="predict_proba")[:, 1]
    auc = roc_auc_score(target, scores)
    assert 0.75 <= auc <= 0.92, f"ROC-AUC {auc:.3f} outside the realism band [0.75, 0.92]"
