"""Ranking, calibration and business metrics for a theft score, with bootstrap intervals.

One ranking rule everywhere: customers are ordered by descending score and ties keep their input
order (a stable sort, :func:`rank_order`). The inspection list uses the same rule, so precision@k
is exactly the hit rate of the first k rows of the list built from the same data.

Labels are 1 (theft) / 0 (normal); unlabeled customers must be dropped before calling these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from statistics import NormalDist

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


def at_k_table(
    y_true: ArrayLike, score: ArrayLike, ks: Sequence[int | float], confidence: float = 0.95
) -> pd.DataFrame:
    """Precision and recall at each k (count or share), one row per k, with Wilson intervals.

    The n of precision is ``n_inspected``; the n of recall is ``thieves_total``.
    """
    ranked = _ranked_labels(y_true, score)
    n_thieves = int(ranked.sum())
    rows = []
    for k in ks:  # a handful of cut-offs
        top = resolve_k(k, ranked.shape[0])
        hits = float(ranked[:top].sum())
        label = f"{k:.0%}" if isinstance(k, float) and not float(k).is_integer() else str(int(k))
        rows.append(
            {
                "k": label,
                "n_inspected": top,
                "thieves_found": int(hits),
                "precision": hits / top,
                "thieves_total": n_thieves,
                "recall": hits / n_thieves if n_thieves else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    table = add_wilson_columns(table, "precision", "thieves_found", "n_inspected", confidence)
    return add_wilson_columns(table, "recall", "thieves_found", "thieves_total", confidence)


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

    Stratified resampling (see `bootstrap_resamples`): thieves and normals are each drawn with
    replacement in their own counts. Returns (point, low, high).
    """
    _check_bootstrap(n_boot, confidence)
    labels = _as_labels(y_true)
    scores = _as_scores(score, labels.shape[0])
    if np.unique(labels).size < 2:
        raise ValueError("the bootstrap needs both thieves and normal customers")
    point = float(metric_fn(labels, scores))
    estimates = bootstrap_resamples(
        {"metric": metric_fn}, labels, {"score": scores}, n_boot, seed, batch_size
    )
    return (point, *percentile_interval(estimates.iloc[:, 0], confidence))


# --------------------------------------------------------------------------- rates


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


def break_even_rate(inspection_cost: float, recovery_per_theft: float) -> float:
    """The hit rate at which one more inspection pays for itself: cost / recovery."""
    if inspection_cost < 0 or recovery_per_theft <= 0:
        raise ParameterError("inspection_cost must not be negative and recovery_per_theft > 0")
    return inspection_cost / recovery_per_theft


def optimum_share(
    y_true: ArrayLike, score: ArrayLike, inspection_cost: float, recovery_per_theft: float
) -> float:
    """Share of customers whose inspection maximises net value on these customers.

    Meant for the validation split: the share chosen there is then applied to the test split,
    so the test's net value is not optimistic the way its own optimum (picked in hindsight) is.
    """
    table = cost_benefit(y_true, score, inspection_cost, recovery_per_theft)
    return float(cost_benefit_optimum(table)["n_inspections"] / (len(table) - 1))


def _value_entry(
    hits: float,
    n: int,
    inspection_cost: float,
    recovery_per_theft: float,
    confidence: float,
) -> dict[str, float | int]:
    """Hits, hit rate and net value of `n` inspections with `hits` thefts, Wilson intervals."""
    low, high = wilson_interval(hits, n, confidence)
    return {
        "n_inspections": int(n),
        "hits": float(hits),
        "hit_rate": float(hits / n) if n else float("nan"),
        "hit_rate_low": low,
        "hit_rate_high": high,
        "net_value": float(hits * recovery_per_theft - n * inspection_cost),
        "net_value_low": float(n * (low * recovery_per_theft - inspection_cost)),
        "net_value_high": float(n * (high * recovery_per_theft - inspection_cost)),
    }


def value_at(
    table: pd.DataFrame,
    n_inspections: int,
    inspection_cost: float,
    recovery_per_theft: float,
    confidence: float = 0.95,
) -> dict[str, float | int]:
    """Net value of inspecting the top `n_inspections` of a cost_benefit table, with intervals.

    The interval of the net value follows from the Wilson interval of the hit rate (the number
    of inspections is fixed, the thefts among them are what varies).
    """
    n = int(min(max(n_inspections, 0), len(table) - 1))
    hits = float(table["hits"].iloc[n])
    return _value_entry(hits, n, inspection_cost, recovery_per_theft, confidence)


def marginal_value(
    table: pd.DataFrame,
    start: int,
    batch: int,
    inspection_cost: float,
    recovery_per_theft: float,
    confidence: float = 0.95,
) -> dict[str, float | int]:
    """What the next `batch` inspections after the first `start` add: thefts, hit rate and net
    value, with intervals. Positive net value: inspecting beyond `start` still pays."""
    if batch < 1:
        raise ParameterError(f"batch must be at least 1 inspection, got {batch}")
    first = int(min(max(start, 0), len(table) - 1))
    last = int(min(first + batch, len(table) - 1))
    hits = float(table["hits"].iloc[last] - table["hits"].iloc[first])
    entry = _value_entry(hits, last - first, inspection_cost, recovery_per_theft, confidence)
    return {"after": first, **entry}


def cost_benefit_summary(
    at_capacity: Mapping[str, float],
    next_batch: Mapping[str, float],
    chosen: Mapping[str, float] | None,
    break_even: float,
    currency: str = "EUR",
) -> str:
    """Plain sentences relating the net value at capacity, the next batch of inspections and the
    optimum chosen on validation, for the notebook and the model card."""

    def money(value: float) -> str:
        return f"{value:,.0f} {currency}"

    def count(value: float, word: str) -> str:
        return f"{value:,.0f} {word}" + ("" if round(value) == 1 else "s")

    lines = [
        f"At capacity ({count(at_capacity['n_inspections'], 'inspection')}): "
        f"{count(at_capacity['hits'], 'theft')}, net value {money(at_capacity['net_value'])} "
        f"(95 % CI {money(at_capacity['net_value_low'])} to "
        f"{money(at_capacity['net_value_high'])}).",
    ]
    if next_batch["n_inspections"] > 0:
        pays = next_batch["hit_rate"] > break_even
        lines.append(
            f"The next {count(next_batch['n_inspections'], 'inspection')} beyond capacity would "
            f"find {count(next_batch['hits'], 'theft')} (hit rate {next_batch['hit_rate']:.1%}, "
            "95 % CI "
            f"{next_batch['hit_rate_low']:.1%}-{next_batch['hit_rate_high']:.1%}; break-even "
            f"{break_even:.1%}) and add {money(next_batch['net_value'])}: "
            + ("more inspections would still pay." if pays else "this batch would not pay.")
        )
    if chosen is not None:
        multiple = chosen["n_inspections"] / max(at_capacity["n_inspections"], 1)
        relation = (
            "capacity, not the model, limits the recovered value: more inspectors would pay"
            if multiple > 1.1
            else "capacity inspects more customers than pays: the last inspections cost more "
            "than they recover"
            if multiple < 0.9
            else "capacity sits at the optimum"
        )
        lines.append(
            f"The optimum chosen on validation inspects {chosen['share']:.1%} of customers: "
            f"{chosen['n_inspections']:,} test customers, {multiple:.1f} x capacity, netting "
            f"{money(chosen['net_value'])} on test; {relation}."
        )
    return "\n".join(lines)


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
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Metrics per group (cluster, quality flag, ...) at the operational threshold.

    Columns: n, thieves, theft_rate, flagged (score >= threshold), found (flagged thieves),
    precision (n = flagged) and recall (n = thieves) with Wilson intervals, and roc_auc / pr_auc
    where the group has both classes (NaN otherwise). Sorted by group.
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
                "found": int(part["hit"].sum()),
                "precision": part["hit"].sum() / n_flagged if n_flagged else np.nan,
                "recall": part["hit"].sum() / n_thieves if n_thieves else np.nan,
                "roc_auc": roc_auc(part["label"], part["score"]) if both else np.nan,
                "pr_auc": pr_auc(part["label"], part["score"]) if both else np.nan,
            }
        )
    table = add_wilson_columns(pd.DataFrame(rows), "precision", "found", "flagged", confidence)
    return add_wilson_columns(table, "recall", "found", "thieves", confidence)


def recall_by_group(
    flagged: ArrayLike, groups: ArrayLike, confidence: float = 0.95
) -> pd.DataFrame:
    """Share of thieves flagged per group (attack type, onset age, ...), thieves only.

    `flagged` and `groups` describe the thieves alone (one entry each); returns thieves, found
    and recall with its Wilson interval per group, sorted by group.
    """
    hits = pd.Series(np.asarray(flagged, dtype=bool))
    names = pd.Series(np.asarray(groups, dtype=object))
    if hits.shape[0] != names.shape[0]:
        raise ValueError(f"flagged has {hits.shape[0]} values but groups has {names.shape[0]}")
    table = hits.groupby(names.to_numpy(), sort=True).agg(thieves="size", found="sum")
    table["found"] = table["found"].astype(np.int64)
    table["recall"] = table["found"] / table["thieves"]
    table = table.rename_axis("group").reset_index()
    return add_wilson_columns(table, "recall", "found", "thieves", confidence)


def threshold_summary(
    y_true: ArrayLike, score: ArrayLike, threshold: float, confidence: float = 0.95
) -> dict[str, float]:
    """Confusion counts, precision and recall (with Wilson intervals) and F1 when flagging
    score >= threshold. The n of precision is ``flagged``, the n of recall ``thieves``."""
    labels = _as_labels(y_true)
    flagged = _as_scores(score, labels.shape[0]) >= threshold
    true_positive = int(np.sum(flagged & (labels == 1)))
    false_positive = int(np.sum(flagged & (labels == 0)))
    false_negative = int(np.sum(~flagged & (labels == 1)))
    true_negative = int(np.sum(~flagged & (labels == 0)))
    precision = true_positive / (true_positive + false_positive) if flagged.any() else float("nan")
    recall = true_positive / (true_positive + false_negative) if labels.any() else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else float("nan")
    n_flagged = true_positive + false_positive
    n_thieves = true_positive + false_negative
    precision_low, precision_high = wilson_interval(true_positive, n_flagged, confidence)
    recall_low, recall_high = wilson_interval(true_positive, n_thieves, confidence)
    return {
        "threshold": float(threshold),
        "true_negative": true_negative,
        "false_positive": false_positive,
        "false_negative": false_negative,
        "true_positive": true_positive,
        "flagged": n_flagged,
        "thieves": n_thieves,
        "precision": float(precision),
        "precision_low": precision_low,
        "precision_high": precision_high,
        "recall": float(recall),
        "recall_low": recall_low,
        "recall_high": recall_high,
        "f1": float(f1),
    }


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


def recall_by_group_per_model(
    scores: pd.DataFrame, is_thief: ArrayLike, groups: ArrayLike, n_flagged: int
) -> pd.DataFrame:
    """Recall per group when each model flags its own top `n_flagged` customers.

    `scores` has one column per model for the same customers; `is_thief` marks the thieves and
    `groups` gives each customer's group (e.g. attack type; ignored for normal customers). With
    every model allowed the same number of inspections, the table shows which kinds of theft
    one model finds and another misses. Columns: group, thieves, found_<model>, recall_<model>.
    """
    thief = np.asarray(is_thief, dtype=bool)
    names = np.asarray(groups, dtype=object)
    if thief.shape[0] != len(scores) or names.shape[0] != len(scores):
        raise ValueError("scores, is_thief and groups must describe the same customers")
    if not thief.any():
        raise ValueError("recall per group needs at least one thief")
    top = resolve_k(int(n_flagged), len(scores))
    table = pd.Series(thief[thief]).groupby(names[thief], sort=True).size().rename("thieves")
    table = table.to_frame()
    for model in scores.columns:  # a handful of models
        flagged = np.zeros(len(scores), dtype=bool)
        flagged[rank_order(scores[model])[:top]] = True
        found = pd.Series(flagged[thief]).groupby(names[thief], sort=True).sum()
        table[f"found_{model}"] = found.astype(np.int64)
        table[f"recall_{model}"] = found / table["thieves"]
    return table.rename_axis("group").reset_index()


def difference_verdict(low: ArrayLike, high: ArrayLike) -> np.ndarray:
    """Read paired-difference intervals (reference minus model): "better" when the whole
    interval is above 0, "worse" when below, "no clear difference" when it holds 0 (or is NaN,
    as for the reference itself: "reference")."""
    lows = np.asarray(low, dtype=np.float64)
    highs = np.asarray(high, dtype=np.float64)
    verdict = np.full(lows.shape, "no clear difference", dtype=object)
    verdict[lows > 0] = "better"
    verdict[highs < 0] = "worse"
    verdict[np.isnan(lows) | np.isnan(highs)] = "reference"
    return verdict


def interval_verdict(value: float | None, low: float, high: float) -> str:
    """Whether an expected value (e.g. validation precision) lies in a measured interval."""
    if value is None or any(math.isnan(v) for v in (float(value), low, high)):
        return "no comparison possible"
    if low <= value <= high:
        return "inside the test interval: the gap is within the test's sampling noise"
    return (
        "outside the test interval: the gap exceeds the test's sampling noise; check whether "
        "the threshold transfers"
    )


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


# --------------------------------------------------------------------------- for display


def format_probability(values: ArrayLike, digits: int = 4, bound: float = 0.999) -> pd.Series:
    """Probabilities as text with `digits` decimals, never as certainty.

    Values above `bound` read "> 0.999" and values below 1 - `bound` read "< 0.001": a calibrated
    probability is a rate among similar customers, and printing 1.0000 or 0.0000 reads as a
    certainty the model does not have. Missing values read "n/a".
    """
    series = pd.Series(values)
    numbers = pd.Series(
        series.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan), index=series.index
    )
    text = numbers.map(lambda value: f"{value:.{digits}f}")
    text = text.mask(numbers > bound, f"> {bound:g}")
    text = text.mask(numbers < 1.0 - bound, f"< {round(1.0 - bound, 12):g}")
    return text.mask(numbers.isna(), "n/a")


def readable(
    frame: pd.DataFrame,
    digits: int = 3,
    score_columns: Sequence[str] = ("risk_score", "anomaly_score", "xgb_probability"),
    probability_columns: Sequence[str] = ("probability",),
) -> pd.DataFrame:
    """A copy of `frame` for display: integers with thousands separators, rates with `digits`
    decimals, scores with 4 and probabilities via `format_probability`. The raw values stay in
    the files; this is only what the reader sees."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if column in probability_columns:
            shown[column] = format_probability(values).to_numpy()
        elif not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        elif column in score_columns:
            shown[column] = values.map(lambda v: "n/a" if pd.isna(v) else f"{v:.4f}")
        elif pd.api.types.is_integer_dtype(values):
            shown[column] = values.map(lambda v: "n/a" if pd.isna(v) else f"{int(v):,}")
        else:
            shown[column] = values.map(lambda v: "n/a" if pd.isna(v) else f"{v:,.{digits}f}")
    return shown


def baseline_quantile_table(baseline: Mapping, section: str, names: Sequence[str]) -> pd.DataFrame:
    """Quantiles, mean and missing share of some variables of a drift baseline, one row each.

    `section` is "scores" or "features" of ``ntl.drift.drift_baseline``; names missing from the
    baseline are skipped.
    """
    entries = baseline.get(section, {})
    rows = [
        {
            "variable": name,
            **entries[name].get("quantiles", {}),
            "mean": entries[name].get("mean"),
            "missing_share": entries[name].get("missing_share"),
        }
        for name in names
        if name in entries
    ]
    return pd.DataFrame(rows)
