"""Ranking metrics used to compare models on the validation split.

An inspection team works down a ranked list, so what matters is how many thieves are near the top:
PR-AUC (average precision) and precision in the top 1 % / 5 %. ROC-AUC is shown for reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ntl.evaluate import pr_auc, precision_at_k, roc_auc
from ntl.models.readings import RAW_READINGS_MODEL

if TYPE_CHECKING:
    from ntl.models.bundle import ModelBundle

HEADLINE_MODEL = "ensemble (risk_score)"


def compared_scores(
    bundle: ModelBundle,
    scores: pd.DataFrame,
    preprocessed: pd.DataFrame,
    consumption: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The scores every model comparison ranks (03 on validation, 04 on test), one column each.

    The ensemble first, then XGBoost (with labels), the isolation forest, the other label-free
    detectors (One-Class SVM, autoencoder) and the baselines (with
    labels; scored from `preprocessed` by the saved models, never refitted). `scores` are the
    bundle's scores of the same customers. With the customers' `consumption` and a fitted
    raw-readings baseline, its probability is the last column.
    """
    compared = {HEADLINE_MODEL: scores["risk_score"]}
    if bundle.supervised:
        compared["xgboost"] = scores["xgb_probability"]
    compared["isolation_forest"] = scores["anomaly_score"]
    if bundle.detectors:
        detectors = bundle.score_detectors(preprocessed.loc[scores.index])
        compared |= {kind: detectors[kind] for kind in detectors.columns}
    if bundle.supervised:
        baselines = bundle.score_baselines(preprocessed)
        compared |= {name: baselines[name] for name in baselines.columns}
    if bundle.readings is not None and consumption is not None:
        compared[RAW_READINGS_MODEL] = bundle.readings.predict(consumption.loc[scores.index])
    return pd.DataFrame(compared, index=scores.index)


def ranking_metrics(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, precision at 1 % and 5 % of `score` against 0/1 labels `y_true`."""
    return {
        "roc_auc": roc_auc(y_true, score),
        "pr_auc": pr_auc(y_true, score),
        "precision_at_1pct": precision_at_k(y_true, score, 0.01),
        "precision_at_5pct": precision_at_k(y_true, score, 0.05),
    }


def comparison_table(y_true: np.ndarray, scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per model (name -> scores), ranking metrics as columns, plus the chance level.

    The ``chance`` row is what a random ranking gets: ROC-AUC 0.5 and PR-AUC / precision equal to
    the theft rate, so a reviewer can read every other row as a margin over it.
    """
    rows = {name: ranking_metrics(y_true, score) for name, score in scores.items()}
    rate = float(np.mean(y_true))
    rows["chance"] = {
        "roc_auc": 0.5,
        "pr_auc": rate,
        "precision_at_1pct": rate,
        "precision_at_5pct": rate,
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table
