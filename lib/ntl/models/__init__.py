"""Detection models of notebook 03: split, Isolation Forests, XGBoost, baselines, ensemble.

Public API (what notebooks 03 / 04 and the scorer call):

- ``split_customers(flag, fractions=(0.6, 0.2, 0.2), seed=42)`` -> frame with column ``split``
- ``train_models(preprocessed, split, **params)`` -> ``(ModelBundle, report)``
- ``ModelBundle.score / score_baselines / xgb_contributions``
- ``save_model_bundle(bundle, store)`` / ``load_model_bundle(store)``
- ``feature_importance(bundle, preprocessed)`` -> ``(importance, what it measures)``
"""

from ntl.models.bundle import (
    SCORE_COLUMNS,
    ModelBundle,
    feature_importance,
    load_model_bundle,
    save_model_bundle,
)
from ntl.models.ensemble import ScoreCalibrator, choose_weight, combine
from ntl.models.isolation import ClusterIsolation, ScoreNormaliser, fit_isolation
from ntl.models.metrics import comparison_table, ranking_metrics
from ntl.models.split import SPLITS, split_customers, split_mask
from ntl.models.supervised import XGB_DEFAULTS
from ntl.models.training import ModelParameters, train_models

__all__ = [
    "SCORE_COLUMNS",
    "SPLITS",
    "XGB_DEFAULTS",
    "ClusterIsolation",
    "ModelBundle",
    "ModelParameters",
    "ScoreCalibrator",
    "ScoreNormaliser",
    "choose_weight",
    "combine",
    "comparison_table",
    "feature_importance",
    "fit_isolation",
    "load_model_bundle",
    "ranking_metrics",
    "save_model_bundle",
    "split_customers",
    "split_mask",
    "train_models",
]
