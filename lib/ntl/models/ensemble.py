"""Ensemble of XGBoost and the Isolation Forest, and its probability calibration.

The combination is ``w * xgb_probability + (1 - w) * anomaly_score`` with `w` picked on the
validation split to maximise PR-AUC: the anomaly score adds a label-free view that catches attacks
unlike the labelled ones. That combination is the ``risk_score`` used for ranking. A calibrator
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
from sklearn.model_selection import StratifiedKFold

from ntl.errors import ParameterError

CALIBRATION_METHODS = ("isotonic", "sigmoid")
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)


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
        else:
            model = LogisticRegression(C=1e4, max_iter=1000)
            model.fit(score.reshape(-1, 1), y_true)
        return cls(method, model)

    def predict(self, score: np.ndarray) -> np.ndarray:
        """Calibrated probability of theft for each ensemble score."""
        score = np.asarray(score, dtype=np.float64)
        if self.method == "isotonic":
            return np.asarray(self.model.predict(score), dtype=np.float64)
        return self.model.predict_proba(score.reshape(-1, 1))[:, 1]


def out_of_fold_probability(
    score: np.ndarray, y_true: np.ndarray, method: str, *, folds: int = 5, seed: int = 42
) -> np.ndarray:
    """Calibrated probabilities where each customer's calibrator never saw that customer.

    The final calibrator is fitted on the whole validation split, so its own calibration curve there
    would look perfect by construction; this cross-fitted version shows an honest curve. NaN when
    there are too few thieves for two folds.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    n_folds = int(min(folds, np.sum(y_true == 1), np.sum(y_true == 0)))
    result = np.full(len(score), np.nan)
    if n_folds < 2:
        return result
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in splitter.split(score, y_true):  # a handful of folds
        calibrator = ScoreCalibrator.fit(score[fit_rows], y_true[fit_rows], method)
        result[held_out] = calibrator.predict(score[held_out])
    return result
