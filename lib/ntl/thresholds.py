"""Decision thresholds on ``risk_score``, fitted on the validation split to inspection capacity.

A revenue-protection team can inspect a fixed number of customers per period. The operational
threshold is the ``risk_score`` of the last customer that capacity reaches on validation, so
flagging everyone at or above it uses the capacity; precision and recall there are what the team
can expect (computed on labelled validation customers; null without labels).

Tier rule (documented for the reviewer and the model card):

- **high** -- ``risk_score >= high_cutoff`` = the operational threshold: inspect this period;
- **medium** -- ``medium_cutoff <= risk_score < high_cutoff``: the watch list, the next
  ``watchlist_multiple`` x capacity customers in the ranking (next in line when capacity frees up);
- **low** -- everyone else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ntl.errors import MeterDataError, ParameterError
from ntl.frame import has_both_classes

TIERS = ("low", "medium", "high")


def share_count(share: float, n: int) -> int:
    """Customers meant by a share of `n`: rounded up, at least 1, at most `n` (the one rounding
    rule of capacities and of k given as a share; the 1e-9 absorbs float error such as 0.05 x 100)."""
    return int(min(n, max(1, math.ceil(share * n - 1e-9))))


def capacity_count(
    n_customers: int,
    *,
    inspection_share: float = 0.05,
    inspection_count: int | None = None,
    population_size: int | None = None,
) -> int:
    """How many of `n_customers` the capacity covers.

    With `inspection_count` (inspections per period over a population of `population_size`
    customers, default `n_customers`), the covered share is count / population; otherwise it is
    `inspection_share`. At least one customer, at most all of them.
    """
    if n_customers < 1:
        raise ParameterError("thresholds need at least one validation customer")
    if inspection_count is not None:
        population = n_customers if population_size is None else int(population_size)
        if inspection_count < 1 or population < 1 or inspection_count > population:
            raise ParameterError(
                f"inspection_count must be between 1 and the {population} customers, "
                f"got {inspection_count}"
            )
        share = inspection_count / population
    else:
        share = float(inspection_share)
        if not 0 < share <= 1:
            raise ParameterError(f"inspection_share must be in (0, 1], got {inspection_share}")
    return share_count(share, n_customers)


def _score_at_rank(descending: np.ndarray, count: int) -> float:
    """The score of the `count`-th best customer (1-based) in a descending array."""
    return float(descending[min(count, len(descending)) - 1])


def _precision_recall(flagged: np.ndarray, flag: pd.Series) -> dict[str, Any]:
    known = flag.notna().to_numpy()
    thief = (flag.fillna(0).to_numpy(dtype=np.int64) == 1) & known
    labelled_flagged = int((flagged & known).sum())
    caught = int((flagged & thief).sum())
    return {
        "precision": caught / labelled_flagged if labelled_flagged else None,
        "recall": caught / int(thief.sum()) if thief.any() else None,
        "labelled_flagged": labelled_flagged,
        "thieves_caught": caught,
    }


def fit_thresholds(
    risk_score: pd.Series,
    flag: pd.Series | None = None,
    *,
    inspection_share: float = 0.05,
    inspection_count: int | None = None,
    population_size: int | None = None,
    watchlist_multiple: float = 1.0,
) -> dict[str, Any]:
    """Operational threshold and tier cut-offs from validation scores (and labels, if any).

    Returns a JSON-ready dict: ``operational_threshold``, ``high_cutoff``, ``medium_cutoff``,
    ``capacity`` (requested and achieved on validation), ``expected`` (precision / recall at the
    threshold, null when unlabelled), ``medium_tier_precision``, ``labelled`` and the ``rule``.
    """
    scores = np.asarray(risk_score, dtype=np.float64)
    if np.isnan(scores).any():
        raise MeterDataError("risk_score: NaN scores cannot be ranked against a threshold")
    if watchlist_multiple < 0:
        raise ParameterError(f"watchlist_multiple must be >= 0, got {watchlist_multiple}")
    count = capacity_count(
        len(scores),
        inspection_share=inspection_share,
        inspection_count=inspection_count,
        population_size=population_size,
    )
    descending = np.sort(scores)[::-1]
    high = _score_at_rank(descending, count)
    medium = _score_at_rank(descending, count + math.ceil(watchlist_multiple * count))
    flagged = scores >= high
    if isinstance(flag, pd.Series) and isinstance(risk_score, pd.Series):
        flag = flag.reindex(risk_score.index)  # labels follow the customers, not the row order
    labelled = flag is not None and has_both_classes(pd.Series(np.asarray(flag), dtype="Int8"))
    expected: dict[str, Any] = {"precision": None, "recall": None}
    medium_precision = None
    if labelled:
        flag = pd.Series(np.asarray(flag), dtype="Int8")
        expected = _precision_recall(flagged, flag)
        medium_precision = _precision_recall((scores >= medium) & ~flagged, flag)["precision"]
    return {
        "score": "risk_score",
        "operational_threshold": high,
        "high_cutoff": high,
        "medium_cutoff": medium,
        "capacity": {
            "inspection_share": None if inspection_count is not None else float(inspection_share),
            "inspection_count": inspection_count,
            "population_size": population_size,
            "validation_customers": len(scores),
            "target_on_validation": count,
            "flagged_on_validation": int(flagged.sum()),
            "flagged_share": float(flagged.mean()),
        },
        "expected": {**expected, "flagged": int(flagged.sum())},
        "medium_tier_precision": medium_precision,
        "watchlist_multiple": float(watchlist_multiple),
        "labelled": labelled,
        "rule": (
            "high: risk_score >= operational threshold (the inspection capacity on validation); "
            f"medium: the next {watchlist_multiple:g} x capacity in the ranking (watch list); "
            "low: the rest"
        ),
    }


def assign_tiers(risk_score: pd.Series, thresholds: dict[str, Any]) -> pd.Series:
    """Ordered categorical high / medium / low per customer, from `fit_thresholds` cut-offs."""
    codes = tier_codes(risk_score.to_numpy(dtype=np.float64), thresholds)
    tiers = pd.Categorical.from_codes(codes, categories=list(TIERS), ordered=True)
    return pd.Series(tiers, index=risk_score.index, name="risk_tier")


def tier_codes(scores: np.ndarray, thresholds: dict[str, Any]) -> np.ndarray:
    """`assign_tiers` as positions in TIERS (int8: 0 low, 1 medium, 2 high), for a caller that
    needs no Series (the web app's single customers)."""
    if np.isnan(scores).any():
        raise MeterDataError("risk_score: NaN scores cannot be assigned a risk tier")
    high, medium = float(thresholds["high_cutoff"]), float(thresholds["medium_cutoff"])
    if medium > high:
        raise ParameterError(f"medium_cutoff {medium} is above high_cutoff {high}")
    return (scores >= medium).astype(np.int8) + (scores >= high).astype(np.int8)


def tier_shares(risk_scores: Mapping[str, pd.Series], thresholds: dict[str, Any]) -> pd.DataFrame:
    """How many customers of each named score set fall in each tier, as counts and shares.

    One row per entry of `risk_scores` (in the given order); columns ``customers``,
    ``high customers`` and the share of each tier (counted by ``ntl.risk.tier_table``, the one
    tier count). Customers scored like the validation split should have a high share near the
    capacity the thresholds were fitted to; a set far above it was scored differently (in-sample
    scores of training customers, say).
    """
    from ntl.risk import tier_table

    rows = {}
    for name, risk_score in risk_scores.items():  # a handful of score sets
        table = tier_table(assign_tiers(risk_score, thresholds)).set_index("tier")
        total = int(table["customers"].sum())
        rows[name] = {
            "customers": total,
            "high customers": int(table.loc["high", "customers"]),
            **{tier: float(table.loc[tier, "share"]) if total else np.nan for tier in TIERS[::-1]},
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "customers scored"
    return frame
