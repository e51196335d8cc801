"""Calibration of a probability: reliability table, expected calibration error, Brier score."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss

from ntl.errors import ParameterError
from ntl.evaluate.ranking import ArrayLike, _as_labels, _as_scores


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
    """Mean squared difference between the probability and the 0/1 outcome (scikit-learn's
    ``brier_score_loss``, after the same checks of labels and probabilities as the rest here)."""
    labels = _as_labels(y_true)
    probabilities = _as_probabilities(prob, labels.shape[0])
    return float(brier_score_loss(labels, probabilities))
