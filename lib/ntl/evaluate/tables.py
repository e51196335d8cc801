"""Tables of the evaluation: the top of the list, the threshold, lift, and the weaker spots.

Each table carries its n beside every rate and the rate's 95 % Wilson interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ntl.errors import ParameterError
from ntl.evaluate.intervals import add_wilson_columns, wilson_interval
from ntl.evaluate.ranking import (
    ArrayLike,
    _as_labels,
    _as_scores,
    _ranked_labels,
    pr_auc,
    rank_order,
    resolve_k,
    roc_auc,
)


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
        if top < k and not (isinstance(k, float) and k < 1):  # asked for more than there are
            label = f"{int(k)} (all {top})"
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
    and recall with its Wilson interval per group, sorted by group: in the categories' order for
    categorical groups (onset ages "0-89 days" before "90-179 days", not as text), else by name.
    """
    hits = pd.Series(np.asarray(flagged, dtype=bool))
    categories = getattr(getattr(groups, "dtype", None), "categories", None)
    names = pd.Series(np.asarray(groups, dtype=object))
    if hits.shape[0] != names.shape[0]:
        raise ValueError(f"flagged has {hits.shape[0]} values but groups has {names.shape[0]}")
    table = hits.groupby(names.to_numpy(), sort=True).agg(thieves="size", found="sum")
    if categories is not None:
        table = table.reindex([name for name in categories if name in table.index])
    table["found"] = table["found"].astype(np.int64)
    table["recall"] = table["found"] / table["thieves"]
    table = table.rename_axis("group").reset_index()
    return add_wilson_columns(table, "recall", "found", "thieves", confidence)


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
