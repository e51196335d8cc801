"""Ranking metrics of a theft score: the one ranking rule, metrics at k, curve areas.

One ranking rule everywhere: customers are ordered by descending score and ties keep their input
order (a stable sort, :func:`rank_order`). The inspection list uses the same rule, so precision@k
is exactly the hit rate of the first k rows of the list built from the same data.

Labels are 1 (theft) / 0 (normal); unlabeled customers must be dropped before calling these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from ntl.errors import ParameterError
from ntl.thresholds import share_count

ArrayLike = Sequence[float] | np.ndarray | pd.Series
MetricFn = Callable[[np.ndarray, np.ndarray], float]


def _as_labels(y_true: ArrayLike, name: str = "y_true") -> np.ndarray:
    """Labels as a float array of 0/1 (NaN or other values are an error)."""
    values = pd.Series(y_true).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        raise ValueError(
            f"{name} has {int(np.isnan(values).sum())} missing labels; drop them first"
        )
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold only 0 (normal) and 1 (theft)")
    return values


def _as_scores(score: ArrayLike, n: int, name: str = "score") -> np.ndarray:
    """Scores as a float array of length n without NaN."""
    values = pd.Series(score).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if values.shape[0] != n:
        raise ValueError(f"{name} has {values.shape[0]} values but y_true has {n}")
    if np.isnan(values).any():
        raise ValueError(f"{name} has {int(np.isnan(values).sum())} missing values")
    return values


def rank_order(score: ArrayLike) -> np.ndarray:
    """Positions that sort `score` from highest to lowest; ties keep their input order.

    A stable sort makes every ranking metric deterministic and identical to the row order of
    the inspection list built from the same data.
    """
    values = np.asarray(pd.Series(score).to_numpy(dtype=np.float64, na_value=np.nan))
    return np.argsort(-values, kind="stable")


def resolve_k(k: int | float, n: int) -> int:
    """Number of customers meant by `k`: an int is a count, a float in (0, 1) a share of `n`.

    Counts larger than `n` are clipped to `n` (the whole population); shares follow
    `share_count`, like the inspection capacity of ``ntl.thresholds``.
    """
    if isinstance(k, bool) or not isinstance(k, int | float | np.integer | np.floating):
        raise ParameterError(f"k must be a count or a share in (0, 1), got {k!r}")
    if isinstance(k, float | np.floating) and not float(k).is_integer():
        if not 0.0 < k < 1.0:
            raise ParameterError(f"k as a share must lie in (0, 1), got {k}")
        return share_count(float(k), n)
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    return int(min(int(k), n))


def _ranked_labels(y_true: ArrayLike, score: ArrayLike) -> np.ndarray:
    """Labels in ranking order (highest score first)."""
    labels = _as_labels(y_true)
    scores = _as_scores(score, labels.shape[0])
    return labels[rank_order(scores)]


def precision_at_k(y_true: ArrayLike, score: ArrayLike, k: int | float) -> float:
    """Share of thieves among the k highest-scored customers (k: count or share, see resolve_k)."""
    ranked = _ranked_labels(y_true, score)
    top = resolve_k(k, ranked.shape[0])
    return float(ranked[:top].mean())


MAP_DEFINITION = (
    "MAP@k over thieves only: rank by descending score (ties keep input order); with r the number "
    "of thieves among the first k customers and k_1 < ... < k_r their positions, "
    "MAP@k = (1/r) * sum_i precision@k_i, and 0 when r = 0 (Zheng et al., 2018). Only the theft "
    "class counts as relevant; averaging in the normal class, as some papers do, inflates it."
)


def average_precision_at_k(y_true: ArrayLike, score: ArrayLike, k: int | float) -> float:
    """MAP@k over thieves only, as in the SGCC literature (Zheng et al., 2018).

    Rank by descending score (ties keep input order). Let r be the number of thieves among the
    first k customers and k_1 < ... < k_r their positions. Then

        MAP@k = (1 / r) * sum_i precision@k_i        (0 when r = 0)

    Only the theft class counts as relevant. Some papers also average in the same quantity for
    the normal class, which inflates the number because normals are the large majority; this
    function does not. It rewards putting the found thieves early; recall@k says how many were
    missed.
    """
    ranked = _ranked_labels(y_true, score)
    top = ranked[: resolve_k(k, ranked.shape[0])]
    found = np.flatnonzero(top == 1.0)
    if found.size == 0:
        return 0.0
    precision_at_hits = np.arange(1, found.size + 1) / (found + 1)
    return float(precision_at_hits.mean())


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn; ties count half)."""
    labels = _as_labels(y_true)
    return float(roc_auc_score(labels, _as_scores(score, labels.shape[0])))


def pr_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision (scikit-learn's definition)."""
    labels = _as_labels(y_true)
    return float(average_precision_score(labels, _as_scores(score, labels.shape[0])))
