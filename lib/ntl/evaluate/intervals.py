"""Intervals on every reported number: Wilson for rates, stratified bootstrap for curve areas.

Both are written here rather than taken from a library, each for a reason: Wilson intervals stay
inside [0, 1] and keep a width at 0/n and n/n (small groups), and the bootstrap computes a batch of
resamples from one sort per model (about three times faster than re-sorting each resample, same
numbers), with every model on the same resamples so differences are paired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from statistics import NormalDist

import numpy as np
import pandas as pd

from ntl.errors import ParameterError
from ntl.evaluate.ranking import ArrayLike, MetricFn, _as_labels, _as_scores, pr_auc, roc_auc


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


def _check_bootstrap(n_boot: int, confidence: float) -> None:
    if n_boot < 1:
        raise ParameterError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence}")


def _stratified_resamples(
    labels: np.ndarray, n_boot: int, seed: int, batch_size: int
) -> Iterator[np.ndarray]:
    """Batches of resamples, each row the customer positions of one stratified resample.

    Thieves and normals are each drawn with replacement in their own counts, so every resample
    has both classes and the base rate of the data.
    """
    positives = np.flatnonzero(labels == 1.0)
    negatives = np.flatnonzero(labels == 0.0)
    if positives.size == 0 or negatives.size == 0:
        raise ValueError("the bootstrap needs both thieves and normal customers")
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, batch_size):  # batches of resamples bound the memory
        size = min(batch_size, n_boot - start)
        yield np.concatenate(
            [
                positives[rng.integers(0, positives.size, size=(size, positives.size))],
                negatives[rng.integers(0, negatives.size, size=(size, negatives.size))],
            ],
            axis=1,
        )


def bootstrap_resamples(
    metrics: Mapping[str, MetricFn],
    y_true: ArrayLike,
    scores: Mapping[str, ArrayLike] | pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 100,
) -> pd.DataFrame:
    """Every metric of every score on the same stratified resamples: one row per resample.

    Columns are (metric, score name) pairs. Because all scores share each resample, the
    difference of two columns is a paired bootstrap of the difference between two models.
    `roc_auc` and `pr_auc` sort each score once and compute a batch of resamples at once from the
    customers' multiplicities (identical to re-sorting each resample); any other metric is called
    per resample.
    """
    if n_boot < 1:
        raise ParameterError(f"n_boot must be at least 1, got {n_boot}")
    labels = _as_labels(y_true)
    named = {name: _as_scores(scores[name], labels.shape[0], str(name)) for name in scores}
    fast: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, Callable]] = {}
    for metric_name, metric_fn in metrics.items():  # a handful of metrics x models
        if metric_fn not in _WEIGHTED_METRICS:
            continue
        ascending, weighted_metric = _WEIGHTED_METRICS[metric_fn]
        for score_name, values in named.items():
            order = np.argsort(values if ascending else -values, kind="stable")
            groups = _tie_groups(values[order])
            fast[metric_name, score_name] = (order, groups, labels[order] == 1.0, weighted_metric)
    columns = [(m, s) for m in metrics for s in named]
    estimates = np.empty((n_boot, len(columns)), dtype=np.float64)
    start = 0
    for picks in _stratified_resamples(labels, n_boot, seed, batch_size):
        size = picks.shape[0]
        counts = None
        if fast:  # customer multiplicities of each resample, in input order
            offsets = (np.arange(size) * labels.size)[:, None]
            counts = np.bincount((picks + offsets).ravel(), minlength=size * labels.size)
            counts = counts.reshape(size, labels.size).astype(np.float64)
        for column, (metric_name, score_name) in enumerate(columns):
            rows = slice(start, start + size)
            if (metric_name, score_name) in fast:
                order, groups, is_thief, weighted_metric = fast[metric_name, score_name]
                estimates[rows, column] = weighted_metric(is_thief, groups, counts[:, order])
            else:
                values = named[score_name]
                metric_fn = metrics[metric_name]
                estimates[rows, column] = [metric_fn(labels[p], values[p]) for p in picks]
        start += size
    return pd.DataFrame(estimates, columns=pd.MultiIndex.from_tuples(columns))


def percentile_interval(estimates: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """The central `confidence` share of bootstrap estimates: (low, high)."""
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence}")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(np.asarray(estimates, dtype=np.float64), [tail, 100.0 - tail])
    return float(low), float(high)


def wilson_interval(
    successes: ArrayLike | float, n: ArrayLike | float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray] | tuple[float, float]:
    """Wilson score interval of the rate successes / n, element-wise.

    Unlike the normal approximation it stays inside [0, 1] and is not of zero width at 0/n or
    n/n, which matters for small groups (9 flagged customers, all thieves, is not a precision of
    exactly 1). n = 0 gives NaN. Scalars in, floats out; arrays in, arrays out.
    """
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence}")
    hits = np.asarray(successes, dtype=np.float64)
    total = np.asarray(n, dtype=np.float64)
    if np.isnan(hits).any() or np.isnan(total).any():
        raise ValueError("successes and n must not be missing")
    if (total < 0).any() or (hits < 0).any() or (hits > total).any():
        raise ValueError("successes must lie between 0 and n, and n must not be negative")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = hits / total
        denominator = 1.0 + z**2 / total
        centre = (rate + z**2 / (2.0 * total)) / denominator
        half = z / denominator * np.sqrt(rate * (1.0 - rate) / total + z**2 / (4.0 * total**2))
        low = np.where(hits == 0, 0.0, np.clip(centre - half, 0.0, 1.0))  # exact at 0 / n
        high = np.where(hits == total, 1.0, np.clip(centre + half, 0.0, 1.0))  # and at n / n
        low = np.where(total > 0, low, np.nan)
        high = np.where(total > 0, high, np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def add_wilson_columns(
    table: pd.DataFrame,
    rate: str,
    successes: str | ArrayLike,
    n: str | ArrayLike,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """A copy of `table` with `{rate}_low` and `{rate}_high` (Wilson) right after `rate`.

    `successes` and `n` are column names of `table` or arrays aligned with its rows.
    """
    hits = table[successes] if isinstance(successes, str) else successes
    total = table[n] if isinstance(n, str) else n
    low, high = wilson_interval(
        np.asarray(hits, dtype=np.float64), np.asarray(total, dtype=np.float64), confidence
    )
    result = table.copy()
    position = list(result.columns).index(rate) + 1
    result.insert(position, f"{rate}_low", np.atleast_1d(low))
    result.insert(position + 1, f"{rate}_high", np.atleast_1d(high))
    return result


def model_comparison(
    y_true: ArrayLike,
    scores: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    reference: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """ROC-AUC and PR-AUC with bootstrap intervals per score column (one per model), and the
    paired difference `reference` minus each model.

    All models are measured on the same resamples, so ``{metric}_diff_low`` / ``_high`` is the
    interval of the difference itself (paired bootstrap): an interval that excludes 0 is a real
    difference, whereas two overlapping per-model intervals prove nothing either way.
    `reference` defaults to the first column; its own difference columns are NaN.
    """
    _check_bootstrap(n_boot, confidence)
    reference = scores.columns[0] if reference is None else reference
    if reference not in scores.columns:
        raise ValueError(f"reference {reference!r} is not one of the scores {list(scores.columns)}")
    labels = _as_labels(y_true)
    metrics = {"roc_auc": roc_auc, "pr_auc": pr_auc}
    estimates = bootstrap_resamples(metrics, labels, scores, n_boot, seed)
    rows = []
    for name in scores.columns:  # a handful of models
        row: dict[str, object] = {"model": name}
        for metric_name, metric_fn in metrics.items():
            point = metric_fn(labels, scores[name])
            low, high = percentile_interval(estimates[metric_name, name], confidence)
            row |= {metric_name: point, f"{metric_name}_low": low, f"{metric_name}_high": high}
        rows.append(row)
    table = pd.DataFrame(rows)
    for metric_name in metrics:
        points = table.set_index("model")[metric_name]
        diff = points[reference] - points.to_numpy()
        lows, highs = [], []
        for name in scores.columns:
            if name == reference:
                lows.append(np.nan)
                highs.append(np.nan)
                continue
            low, high = percentile_interval(
                estimates[metric_name, reference] - estimates[metric_name, name], confidence
            )
            lows.append(low)
            highs.append(high)
        table[f"{metric_name}_diff"] = np.where(table["model"] == reference, np.nan, diff)
        table[f"{metric_name}_diff_low"] = lows
        table[f"{metric_name}_diff_high"] = highs
    return table
