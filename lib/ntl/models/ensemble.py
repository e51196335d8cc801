"""Ensemble of XGBoost and the Isolation Forest, and its probability calibration.

The combination is ``w * xgb_probability + (1 - w) * anomaly_score`` with `w` picked on the
validation split to maximise PR-AUC. That combination is the ``risk_score`` used for ranking. The
weight says how much the label-free anomaly score adds to XGBoost on labelled validation
customers; `describe_ensemble` puts the outcome in words (a weight near 1 means the ensemble is in
effect XGBoost, and the anomaly score then matters for unlabelled data and as a second opinion). A calibrator
(isotonic or Platt/sigmoid), fitted on validation, turns it into ``probability``, a number an analyst
can read as "chance of theft". Isotonic regression is a step function, so many customers share one
probability; ranking stays on the uncalibrated combination, which keeps every distinction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from ntl.errors import ParameterError
from ntl.models.crossfit import cross_fit_predict, fold_count, fold_ids

CALIBRATION_METHODS = ("isotonic", "sigmoid")
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
MOSTLY = 0.9  # a weight at or beyond this share makes the ensemble in effect one of its inputs
WEIGHT_SOURCE = (  # how choose_weight picks the weight, for metadata.json and the model card
    f"chosen on the validation split's PR-AUC over the weights {WEIGHT_GRID[0]:g}, "
    f"{WEIGHT_GRID[1]:g}, ..., {WEIGHT_GRID[-1]:g} (ties go to XGBoost)"
)


def combine(xgb_probability: np.ndarray, anomaly_score: np.ndarray, weight: float) -> np.ndarray:
    """The ensemble score in [0, 1]: a convex combination of the two inputs."""
    if not 0 <= weight <= 1:
        raise ParameterError(f"ensemble weight must be in [0, 1], got {weight}")
    return weight * np.asarray(xgb_probability, np.float64) + (1 - weight) * np.asarray(
        anomaly_score, np.float64
    )


def choose_weight(
    y_true: np.ndarray,
    xgb_probability: np.ndarray,
    anomaly_score: np.ndarray,
    grid: np.ndarray = WEIGHT_GRID,
) -> tuple[float, pd.DataFrame]:
    """The XGBoost weight with the best validation PR-AUC, and the PR-AUC of every weight tried.

    Ties go to the larger weight (the supervised model), so equal evidence never favours the
    label-free score.
    """
    pr_auc = [
        average_precision_score(y_true, combine(xgb_probability, anomaly_score, w)) for w in grid
    ]
    curve = pd.DataFrame({"weight": grid, "pr_auc": pr_auc})
    best = curve.loc[curve["pr_auc"] == curve["pr_auc"].max(), "weight"].max()
    return float(best), curve


def never_certain(model: IsotonicRegression, score: np.ndarray) -> None:
    """Replace, in place, the 0 and 1 that isotonic regression gives a block of calibration
    customers who were all normal or all thieves by the rule of succession, (k + 1) / (n + 2).

    A probability is the theft rate among customers scored alike, estimated from the n
    validation customers of that block: 20 thieves out of 20 is evidence for a high rate, not a
    certainty, so the top block reads 21/22 = 0.955 and an all-normal bottom block of 500 reads
    1/502. Each replaced value stays within its neighbours' values, so the map stays monotone.
    """
    fitted = np.asarray(model.predict(score), dtype=np.float64)
    values = np.asarray(model.y_thresholds_, dtype=np.float64).copy()
    levels = np.unique(values)
    for level, smoothed in ((0.0, lambda n: 1.0 / (n + 2)), (1.0, lambda n: (n + 1) / (n + 2))):
        if level not in levels:
            continue
        n_block = int(np.count_nonzero(fitted == level))
        others = levels[levels != level]
        value = smoothed(max(n_block, 1))
        if level == 0.0 and others.size:
            value = min(value, float(others.min()))
        if level == 1.0 and others.size:
            value = max(value, float(others.max()))
        values[values == level] = value
    model.y_thresholds_ = values
    model._build_f(model.X_thresholds_, values)


@dataclass
class ScoreCalibrator:
    """Maps the ensemble score to a calibrated probability of theft."""

    method: str
    model: Any

    @classmethod
    def fit(
        cls, score: np.ndarray, y_true: np.ndarray, method: str = "isotonic"
    ) -> ScoreCalibrator:
        """Fit isotonic regression or Platt scaling (``sigmoid``) of `y_true` on `score`."""
        if method not in CALIBRATION_METHODS:
            raise ParameterError(
                f"calibration must be one of {CALIBRATION_METHODS}, got {method!r}"
            )
        score = np.asarray(score, dtype=np.float64)
        y_true = np.asarray(y_true, dtype=np.int64)
        if method == "isotonic":
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            model.fit(score, y_true)
            never_certain(model, score)
        else:
            model = LogisticRegression(C=1e4, max_iter=1000)
            model.fit(score.reshape(-1, 1), y_true)
        return cls(method, model)

    def predict(self, score: np.ndarray) -> np.ndarray:
        """Calibrated probability of theft for each ensemble score, never exactly 0 or 1."""
        score = np.asarray(score, dtype=np.float64)
        if self.method == "isotonic":
            return isotonic_predict(self.model, score)
        return self.model.predict_proba(score.reshape(-1, 1))[:, 1]


def isotonic_predict(model: IsotonicRegression, score: np.ndarray) -> np.ndarray:
    """``model.predict(score)`` (float64) without scikit-learn's input checks, ~0.2 ms a call
    (a tenth of a web request's models): the fitted range's clip and the model's own
    interpolation, so the same numbers (a test compares them). Anything else (a score that is
    not finite, a model without those fitted parts) goes through ``predict`` and its checks."""
    interpolate = getattr(model, "f_", None)
    usable = model.out_of_bounds == "clip" and hasattr(model, "X_min_") and interpolate is not None
    if not usable or score.ndim != 1 or not np.isfinite(score).all():
        return np.asarray(model.predict(score), dtype=np.float64)
    return np.asarray(interpolate(np.clip(score, model.X_min_, model.X_max_)), dtype=np.float64)


def out_of_fold_probability(
    score: np.ndarray, y_true: np.ndarray, method: str, *, folds: int, seed: int
) -> np.ndarray:
    """Calibrated probabilities where each customer's calibrator never saw that customer.

    The final calibrator is fitted on the whole validation split, so its own calibration curve there
    would look perfect by construction; this cross-fitted version shows an honest curve. NaN when
    there are too few thieves for two folds.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    if fold_count(y_true, folds) < 2:
        return np.full(len(score), np.nan)

    def fit_predict(fit_score: np.ndarray, fit_y: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        return ScoreCalibrator.fit(fit_score, fit_y, method).predict(held_out)

    return cross_fit_predict(score, y_true, fold_ids(y_true, folds, seed=seed), fit_predict)


def describe_ensemble(weight: float, pr_auc: dict[str, float]) -> str:
    """One honest sentence on what the chosen weight means, from validation PR-AUC per score.

    `pr_auc` holds the validation PR-AUC of ``ensemble``, ``xgboost`` and ``isolation_forest``.
    It claims only what the numbers show: no statement about attacks the anomaly score would catch.
    """
    if not 0 <= weight <= 1:
        raise ParameterError(f"ensemble weight must be in [0, 1], got {weight}")
    ensemble, xgboost, anomaly = (pr_auc[k] for k in ("ensemble", "xgboost", "isolation_forest"))
    numbers = (
        f"validation PR-AUC {ensemble:.3f} for the ensemble, {xgboost:.3f} for XGBoost alone and "
        f"{anomaly:.3f} for the anomaly score alone"
    )
    if weight >= MOSTLY:
        return (
            f"The chosen weight {weight:.2f} makes the ensemble in effect XGBoost ({numbers}; "
            f"{ensemble - xgboost:+.3f} from adding the anomaly score). "
            "The anomaly score matters where there are no labels (it is then the ranking) and as a "
            "label-free second opinion on a customer; these numbers do not show it catching thefts "
            "that XGBoost misses."
        )
    if weight <= 1 - MOSTLY:
        return (
            f"The chosen weight {weight:.2f} makes the ensemble in effect the anomaly score "
            f"({numbers}): the labels add little to the label-free ranking here."
        )
    return (
        f"The chosen weight {weight:.2f} blends both scores ({numbers}): on validation the blend "
        f"beats XGBoost alone by {ensemble - xgboost:+.3f} PR-AUC."
    )
