"""Ranking metrics used to compare models on the validation split.

An inspection team works down a ranked list, so what matters is how many thieves are near the top:
PR-AUC (average precision) and precision in the top 1 % / 5 %. ROC-AUC is shown for reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from ntl.errors import ParameterError


def top_count(n: int, share: float) -> int:
    """How many of `n` ranked customers fall in the top `share` (at least one, at most `n`)."""
    if not 0 < share <= 1:
        raise ParameterError(f"share must be in (0, 1], got {share}")
    return int(min(n, max(1, math.ceil(share * n - 1e-9))))


def rank_order(score: np.ndarray) -> np.ndarray:
    """Positions sorted by descending score; ties keep their input order (deterministic)."""
    return np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")


def precision_at_share(y_true: np.ndarray, score: np.ndarray, share: float) -> float:
    """Share of thieves among the top `share` of customers ranked by `score`."""
    y_true = np.asarray(y_true)
    top = rank_order(score)[: top_count(len(y_true), share)]
    return float(np.mean(y_true[top]))


def ranking_metrics(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, precision at 1 % and 5 % of `score` against 0/1 labels `y_true`."""
    y_true = np.asarray(y_true, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    return {
        "roc_auc": float(roc_auc_score(y_true, score)),
        "pr_auc": float(average_precision_score(y_true, score)),
        "precision_at_1pct": precision_at_share(y_true, score, 0.01),
        "precision_at_5pct": precision_at_share(y_true, score, 0.05),
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
