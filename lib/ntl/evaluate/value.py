"""The business view: net value of inspecting the top n customers, break-even, the optimum."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ntl.errors import ParameterError
from ntl.evaluate.intervals import wilson_interval
from ntl.evaluate.ranking import ArrayLike, _as_scores, rank_order


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
