"""Cross-fitting: predictions for customers from models that never saw them.

A model scores the customers it was trained on too well: it has seen their labels. On the chain's
ranked list those training customers would crowd the top as "known thieves" and overfill the high
tier, whose threshold was set on unseen (validation) customers. So every labelled training customer
gets an out-of-fold XGBoost probability: the training customers are cut into `folds` stratified
folds, one model per fold is fitted on the other folds, and each customer is predicted by the model
that left its fold out. The fold models reuse the main model's hyperparameters and its number of
boosting rounds (chosen by early stopping on validation), so they are the same recipe on 1 - 1/k
of the data.

Written here rather than with scikit-learn's ``cross_val_predict`` because each fold model takes
its class weight from its own fold's labels, and the calibrator's cross-fit reuses the same fold
assignment function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from ntl.errors import ParameterError
from ntl.models.supervised import xgb_classifier

FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def fold_count(y: np.ndarray, folds: int) -> int:
    """Folds that stratification allows: at most `folds`, and no more than either class has."""
    if folds < 2:
        raise ParameterError(f"cross-fitting needs at least 2 folds, got {folds}")
    y = np.asarray(y, dtype=np.int64)
    return int(min(folds, np.sum(y == 1), np.sum(y == 0)))


def fold_ids(y: np.ndarray, folds: int, *, seed: int = 42) -> np.ndarray:
    """Fold number (0 .. k-1) of each customer, stratified on the 0/1 labels `y`, seeded.

    k = `fold_count(y, folds)`; every customer is in exactly one fold and each fold holds the same
    share of thieves (to within one). Raises ParameterError when k < 2 (fewer than two thieves or
    two normal customers), because then some fold model would train on one class only.
    """
    y = np.asarray(y, dtype=np.int64)
    k = fold_count(y, folds)
    if k < 2:
        raise ParameterError(
            f"cross-fitting needs at least 2 thieves and 2 normal customers, got "
            f"{int(np.sum(y == 1))} and {int(np.sum(y == 0))}"
        )
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    fold = np.empty(len(y), dtype=np.int64)
    for number, (_, held_out) in enumerate(splitter.split(np.zeros(len(y)), y)):  # k folds
        fold[held_out] = number
    return fold


def cross_fit_predict(
    features: np.ndarray, y: np.ndarray, fold: np.ndarray, fit_predict: FitPredict
) -> np.ndarray:
    """Each row predicted by ``fit_predict(fit_x, fit_y, held_out_x)`` fitted without its fold."""
    features, y, fold = np.asarray(features), np.asarray(y), np.asarray(fold)
    if not len(features) == len(y) == len(fold):
        raise ParameterError(
            f"features, labels and folds differ in length: {len(features)}, {len(y)}, {len(fold)}"
        )
    result = np.full(len(y), np.nan)
    for number in np.unique(fold):  # a handful of folds
        held_out = fold == number
        result[held_out] = fit_predict(features[~held_out], y[~held_out], features[held_out])
    return result


def out_of_fold_xgb(
    features: np.ndarray,
    y: np.ndarray,
    hyperparameters: Mapping[str, Any],
    *,
    n_rounds: int,
    folds: int,
    seed: int,
    n_jobs: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold XGBoost probability of theft per customer, and the fold each belongs to.

    Fold models use `hyperparameters` with exactly `n_rounds` boosting rounds (no early stopping:
    the round count was already chosen on validation) and class weights from their own labels.
    """
    if n_rounds < 1:
        raise ParameterError(f"n_rounds must be >= 1, got {n_rounds}")
    fixed = {**hyperparameters, "n_estimators": int(n_rounds)}

    def fit_predict(fit_x: np.ndarray, fit_y: np.ndarray, held_out_x: np.ndarray) -> np.ndarray:
        model = xgb_classifier(fixed, fit_y, seed=seed, n_jobs=n_jobs)
        model.fit(fit_x, fit_y, verbose=False)
        return model.predict_proba(held_out_x)[:, 1].astype(np.float64)

    fold = fold_ids(y, folds, seed=seed)
    return cross_fit_predict(features, y, fold, fit_predict), fold
