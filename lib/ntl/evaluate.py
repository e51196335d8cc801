"""Ranking, calibration and business metrics for a theft score, with bootstrap intervals.

One ranking rule everywhere: customers are ordered by descending score and ties keep their input
order (a stable sort, :func:`rank_order`). The inspection list uses the same rule, so precision@k
is exactly the hit rate of the first k rows of the list built from the same data.

Labels are 1 (theft) / 0 (normal); unlabeled customers must be dropped before calling these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from ntl.errors import ParameterError

ArrayLike = Sequence[float] | np.ndarray | pd.Series
MetricFn = Callable[[np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------- inputs and ranking


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

    Counts larger than `n` are clipped to `n` (the whole population); shares round up (as the
    inspection capacity does in ``ntl.thresholds``), at least 1.
    """
    if isinstance(k, bool) or not isinstance(k, int | float | np.integer | np.floating):
        raise ParameterError(f"k must be a count or a share in (0, 1), got {k!r}")
    if isinstance(k, float | np.floating) and not float(k).is_integer():
        if not 0.0 < k < 1.0:
            raise ParameterError(f"k as a share must lie in (0, 1), got {k}")
        return int(min(n, max(1, math.ceil(k * n - 1e-9))))
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    return int(min(int(k), n))


def _ranked_labels(y_true: ArrayLike, score: ArrayLike) -> np.ndarray:
    """Labels in ranking order (highest score first)."""
    labels = _as_labels(y_true)
    scores = _as_scores(score, labels.shape[0])
    return labels[rank_order(scores)]


# --------------------------------------------------------------------------- metrics at k


def precision_at_k(y_true: ArrayLike, score: ArrayLike, k: int | float) -> float:
    """Share of thieves among the k highest-scored customers (k: count or share, see resolve_k)."""
    ranked = _ranked_labels(y_true, score)
    top = resolve_k(k, ranked.shape[0])
    return float(ranked[:top].mean())


def recall_at_k(y_true: ArrayLike, score: ArrayLike, k: int | float) -> float:
    """Share of all thieves found among the k highest-scored customers."""
    ranked = _ranked_labels(y_true, score)
    n_thieves = ranked.sum()
    if n_thieves == 0:
        raise ValueError("recall@k needs at least one thief in y_true")
    top = resolve_k(k, ranked.shape[0])
    return float(ranked[:top].sum() / n_thieves)


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


def at_k_table(y_true: ArrayLike, score: ArrayLike, ks: Sequence[int | float]) -> pd.DataFrame:
    """Precision, recall and thieves found at each k (count or share), one row per k."""
    ranked = _ranked_labels(y_true, score)
    n_thieves = ranked.sum()
    rows = []
    for k in ks:
        top = resolve_k(k, ranked.shape[0])
        hits = float(ranked[:top].sum())
        label = f"{k:.0%}" if isinstance(k, float) and not float(k).is_integer() else str(int(k))
        rows.append(
            {
                "k": label,
                "n_inspected": top,
                "thieves_found": int(hits),
                "precision": hits / top,
                "recall": hits / n_thieves if n_thieves else np.nan,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- curve areas


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn; ties count half)."""
    labels = _as_labels(y_true)
    return float(roc_auc_score(labels, _as_scores(score, labels.shape[0])))


def pr_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision (scikit-learn's definition)."""
    labels = _as_labels(y_true)
    return float(average_precision_score(labels, _as_scores(score, labels.shape[0])))


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal values in a sorted 1-D score array."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def _roc_auc_weighted(is_thief: np.ndarray, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC for every row of `weights` (customer multiplicities, ascending score order).

    Mann-Whitney: the weighted share of (thief, normal) pairs where the thief scores higher,
    ties counting half. `groups` are the tie groups' start positions.
    """
    thieves = np.add.reduceat(weights * is_thief, groups, axis=1)
    normals = np.add.reduceat(weights * ~is_thief, groups, axis=1)
    normals_below = np.cumsum(normals, axis=1) - normals
    pairs = thieves.sum(axis=1) * normals.sum(axis=1)
    return (thieves * (normals_below + 0.5 * normals)).sum(axis=1) / pairs


def _average_precision_weighted(
    is_thief: np.ndarray, groups: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Average precision for every row of `weights` (descending score order), as scikit-learn.

    AP = sum over score thresholds of (recall step) x precision: each tie group adds its thieves'
    share times the precision at the group's end.
    """
    thieves = np.add.reduceat(weights * is_thief, groups, axis=1)
    flagged = np.cumsum(np.add.reduceat(weights, groups, axis=1), axis=1)
    found = np.cumsum(thieves, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(flagged > 0, found / flagged, 0.0)
    return (thieves * precision).sum(axis=1) / thieves.sum(axis=1)


# metric -> (ascending sort?, weighted row computation) for the bootstrap's fast path
_WEIGHTED_METRICS: dict[Callable, tuple[bool, Callable]] = {
    roc_auc: (True, _roc_auc_weighted),
    pr_auc: (False, _average_precision_weighted),
}


# --------------------------------------------------------------------------- bootstrap


def bootstrap_interval(
    metric_fn: MetricFn,
    y_true: ArrayLike,
    score: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    batch_size: int = 100,
) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap interval of `metric_fn(y_true, score)`.

    Resampling is stratified: thieves and normals are each drawn with replacement in their own
    counts, so every resample has both classes and the base rate of the test set. `roc_auc` and
    `pr_auc` sort the scores once and compute a batch of resamples at once from the customers'
    multiplicities (identical to re-sorting each resample); any other metric is called per resample. Returns (point, low, high).
    """
    if n_boot < 1:
        raise ParameterError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence}")
    labels = _as_labels(y_true)
    scores = _as_scores(score, labels.shape[0])
    positives = np.flatnonzero(labels == 1.0)
    negatives = np.flatnonzero(labels == 0.0)
    if positives.size == 0 or negatives.size == 0:
        raise ValueError("bootstrap_interval needs both thieves and normal customers")
    point = float(metric_fn(labels, scores))
    rng = np.random.default_rng(seed)
    fast = _WEIGHTED_METRICS.get(metric_fn)
    if fast is not None:  # sort once; a resample is then a vector of customer multiplicities
        ascending, weighted_metric = fast
        order = np.argsort(scores if ascending else -scores, kind="stable")
        groups = _tie_groups(scores[order])
        is_thief = labels[order] == 1.0
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
    estimates = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, batch_size):  # batches of resamples bound the memory
        size = min(batch_size, n_boot - start)
        picks = np.concatenate(
            [
                positives[rng.integers(0, positives.size, size=(size, positives.size))],
                negatives[rng.integers(0, negatives.size, size=(size, negatives.size))],
            ],
            axis=1,
        )
        if fast is not None:
            offsets = (np.arange(size) * labels.size)[:, None]
            counts = np.bincount((position[picks] + offsets).ravel(), minlength=size * labels.size)
            weights = counts.reshape(size, labels.size).astype(np.float64)
            estimates[start : start + size] = weighted_metric(is_thief, groups, weights)
        else:
            estimates[start : start + size] = [metric_fn(labels[p], scores[p]) for p in picks]
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return point, float(low), float(high)


# --------------------------------------------------------------------------- calibration


def _as_probabilities(prob: ArrayLike, n: int) -> np.ndarray:
    values = _as_scores(prob, n, name="prob")
    if (values < 0.0).any() or (values > 1.0).any():
        raise ValueError("prob must lie in [0, 1]")
    return values


def reliability_table(y_true: ArrayLike, prob: ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """Observed theft rate against mean predicted probability in equal-width bins of [0, 1].

    Bin i covers (lower, upper]; the first bin also holds 0 (the same binning as scikit-learn's
    ``calibration_curve(strategy="uniform")``). Empty bins are kept with n = 0 and NaN rates.
    """
    if n_bins < 1:
        raise ParameterError(f"n_bins must be at least 1, got {n_bins}")
    labels = _as_labels(y_true)
    probabilities = _as_probabilities(prob, labels.shape[0])
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_ids = np.searchsorted(edges[1:-1], probabilities)
    counts = np.bincount(bin_ids, minlength=n_bins)
    prob_sums = np.bincount(bin_ids, weights=probabilities, minlength=n_bins)
    thieves = np.bincount(bin_ids, weights=labels, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_probability = np.where(counts > 0, prob_sums / counts, np.nan)
        observed_rate = np.where(counts > 0, thieves / counts, np.nan)
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": counts,
            "thieves": thieves.astype(np.int64),
            "mean_probability": mean_probability,
            "observed_rate": observed_rate,
        }
    )


def expected_calibration_error(y_true: ArrayLike, prob: ArrayLike, n_bins: int = 10) -> float:
    """ECE: sum over equal-width bins of (bin share) x |observed rate - mean probability|."""
    table = reliability_table(y_true, prob, n_bins)
    filled = table[table["n"] > 0]
    gaps = (filled["observed_rate"] - filled["mean_probability"]).abs()
    return float((filled["n"] * gaps).sum() / table["n"].sum())


def brier_score(y_true: ArrayLike, prob: ArrayLike) -> float:
    """Mean squared difference between the probability and the 0/1 outcome."""
    labels = _as_labels(y_true)
    probabilities = _as_probabilities(prob, labels.shape[0])
    return float(np.mean((probabilities - labels) ** 2))


# --------------------------------------------------------------------------- the business view


def cost_benefit(
    y_true: ArrayLike,
    score: ArrayLike,
    inspection_cost: float,
    recovery_per_theft: float,
) -> pd.DataFrame:
    """Net value of inspecting the top n customers, for n = 0 .. all.

    net_value = hits x recovery_per_theft - n_inspections x inspection_cost. `y_true` may also be
    calibrated probabilities (values in [0, 1]): hits are then the expected number of thefts,
    which prices an unlabeled inspection list.
    """
    if inspection_cost < 0 or recovery_per_theft < 0:
        raise ParameterError("inspection_cost and recovery_per_theft must not be negative")
    outcomes = pd.Series(y_true).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(outcomes).any() or (outcomes < 0).any() or (outcomes > 1).any():
        raise ValueError("y_true must hold 0/1 labels or probabilities in [0, 1], without NaN")
    scores = _as_scores(score, outcomes.shape[0])
    hits = np.concatenate([[0.0], np.cumsum(outcomes[rank_order(scores)])])
    n_inspections = np.arange(hits.shape[0])
    net_value = hits * recovery_per_theft - n_inspections * inspection_cost
    return pd.DataFrame({"n_inspections": n_inspections, "hits": hits, "net_value": net_value})


def cost_benefit_optimum(table: pd.DataFrame) -> pd.Series:
    """The row of a cost_benefit table with the largest net value (fewest inspections on ties)."""
    if table.empty:
        raise ValueError("cost_benefit table is empty")
    return table.loc[table["net_value"].idxmax()]


def lift_table(y_true: ArrayLike, score: ArrayLike, n_bins: int = 10) -> pd.DataFrame:
    """Hit rate and lift per rank group of (nearly) equal size, best group first.

    Groups cut the ranking by position (decile 1 = the top tenth), so tied scores cannot make
    groups uneven. Lift = group hit rate / overall theft rate; cumulative columns answer "if we
    inspect down to this group".
    """
    ranked = _ranked_labels(y_true, score)
    n = ranked.shape[0]
    if not 1 <= n_bins <= n:
        raise ParameterError(f"n_bins must lie in [1, {n}], got {n_bins}")
    base_rate = ranked.mean()
    if base_rate == 0:
        raise ValueError("lift needs at least one thief in y_true")
    group = np.arange(n) * n_bins // n
    counts = np.bincount(group, minlength=n_bins)
    hits = np.bincount(group, weights=ranked, minlength=n_bins)
    cumulative_counts = np.cumsum(counts)
    cumulative_hits = np.cumsum(hits)
    return pd.DataFrame(
        {
            "group": np.arange(1, n_bins + 1),
            "n": counts,
            "thieves": hits.astype(np.int64),
            "hit_rate": hits / counts,
            "lift": hits / counts / base_rate,
            "cumulative_share": cumulative_counts / n,
            "cumulative_recall": cumulative_hits / ranked.sum(),
            "cumulative_lift": cumulative_hits / cumulative_counts / base_rate,
        }
    )


# --------------------------------------------------------------------------- weaker spots


def group_table(
    y_true: ArrayLike,
    score: ArrayLike,
    groups: ArrayLike,
    threshold: float,
) -> pd.DataFrame:
    """Metrics per group (cluster, quality flag, ...) at the operational threshold.

    Columns: n, thieves, theft_rate, flagged (score >= threshold), precision, recall, and
    roc_auc / pr_auc where the group has both classes (NaN otherwise). Sorted by group.
    """
    labels = _as_labels(y_true)
    scores = _as_scores(score, labels.shape[0])
    group_values = pd.Series(np.asarray(groups, dtype=object))
    if group_values.shape[0] != labels.shape[0]:
        raise ValueError(
            f"groups has {group_values.shape[0]} values but y_true has {labels.shape[0]}"
        )
    frame = pd.DataFrame(
        {"group": group_values.to_numpy(), "label": labels, "score": scores}
    ).assign(flagged=lambda f: (f["score"] >= threshold).astype(np.float64))
    frame["hit"] = frame["flagged"] * frame["label"]
    rows = []
    for name, part in frame.groupby("group", sort=True):
        n_thieves = part["label"].sum()
        n_flagged = part["flagged"].sum()
        both = 0 < n_thieves < len(part)
        rows.append(
            {
                "group": name,
                "n": len(part),
                "thieves": int(n_thieves),
                "theft_rate": n_thieves / len(part),
                "flagged": int(n_flagged),
                "precision": part["hit"].sum() / n_flagged if n_flagged else np.nan,
                "recall": part["hit"].sum() / n_thieves if n_thieves else np.nan,
                "roc_auc": roc_auc(part["label"], part["score"]) if both else np.nan,
                "pr_auc": pr_auc(part["label"], part["score"]) if both else np.nan,
            }
        )
    return pd.DataFrame(rows)


def recall_by_group(flagged: ArrayLike, groups: ArrayLike) -> pd.DataFrame:
    """Share of thieves flagged per group (attack type, onset age, ...), thieves only.

    `flagged` and `groups` describe the thieves alone (one entry each); returns thieves, found
    and recall per group, sorted by group.
    """
    hits = pd.Series(np.asarray(flagged, dtype=bool))
    names = pd.Series(np.asarray(groups, dtype=object))
    if hits.shape[0] != names.shape[0]:
        raise ValueError(f"flagged has {hits.shape[0]} values but groups has {names.shape[0]}")
    table = hits.groupby(names.to_numpy(), sort=True).agg(thieves="size", found="sum")
    table["recall"] = table["found"] / table["thieves"]
    return table.rename_axis("group").reset_index()


def threshold_summary(y_true: ArrayLike, score: ArrayLike, threshold: float) -> dict[str, float]:
    """Confusion counts, precision, recall and F1 when flagging score >= threshold."""
    labels = _as_labels(y_true)
    flagged = _as_scores(score, labels.shape[0]) >= threshold
    true_positive = int(np.sum(flagged & (labels == 1)))
    false_positive = int(np.sum(flagged & (labels == 0)))
    false_negative = int(np.sum(~flagged & (labels == 1)))
    true_negative = int(np.sum(~flagged & (labels == 0)))
    precision = true_positive / (true_positive + false_positive) if flagged.any() else float("nan")
    recall = true_positive / (true_positive + false_negative) if labels.any() else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
    return {
        "threshold": float(threshold),
        "true_negative": true_negative,
        "false_positive": false_positive,
        "false_negative": false_negative,
        "true_positive": true_positive,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def model_comparison(
    y_true: ArrayLike, scores: pd.DataFrame, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """ROC-AUC and PR-AUC with bootstrap 95 % intervals for each score column (one per model).

    All models share the same resamples (same seed), so their intervals are comparable.
    """
    rows = []
    for name in scores.columns:  # a handful of models
        roc = bootstrap_interval(roc_auc, y_true, scores[name], n_boot=n_boot, seed=seed)
        pr = bootstrap_interval(pr_auc, y_true, scores[name], n_boot=n_boot, seed=seed)
        rows.append(
            {
                "model": name,
                "roc_auc": roc[0],
                "roc_auc_low": roc[1],
                "roc_auc_high": roc[2],
                "pr_auc": pr[0],
                "pr_auc_low": pr[1],
                "pr_auc_high": pr[2],
            }
        )
    return pd.DataFrame(rows)


ONSET_AGE_EDGES = (0, 90, 180, 365, np.inf)


def onset_age_groups(onset: pd.Series, last_day: pd.Timestamp) -> pd.Series:
    """Days between a theft's onset and the last day of data, in bands ("0-89 days", ...).

    Recent onsets leave few days of evidence; this shows whether the model finds them.
    """
    age = (pd.Timestamp(last_day) - pd.to_datetime(onset)).dt.days
    labels = [
        f"{int(low)}-{int(high) - 1} days" if np.isfinite(high) else f"{int(low)}+ days"
        for low, high in zip(ONSET_AGE_EDGES[:-1], ONSET_AGE_EDGES[1:], strict=True)
    ]
    bands = pd.cut(age, bins=list(ONSET_AGE_EDGES), right=False, labels=labels)
    return pd.Series(bands, index=onset.index, name="onset_age")


def to_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts for JSON: numpy scalars made plain, NaN as None."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {key: value.item() if hasattr(value, "item") else value for key, value in row.items()}
        for row in clean.to_dict(orient="records")
    ]
