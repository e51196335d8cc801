"""Detection models of notebook 03: split, Isolation Forests, XGBoost, baselines, ensemble.

One room per job (the split itself is ``ntl.split``, drawn in 02): ``isolation`` (per-cluster forests), ``supervised`` (XGBoost and
baselines), ``crossfit`` (out-of-fold predictions), ``ensemble`` (weight and calibration),
``training`` (fitting them all), ``bundle`` (scoring with the fitted models), ``persistence`` (save
and load through the artifact store), ``importance``, ``chain`` (the run's own scores), ``metrics``
(validation comparison tables).

Public API (what notebooks 03 / 04 and the scorer call):

- ``split_customers(flag, fractions=(0.6, 0.2, 0.2), seed=42)`` -> frame with column ``split``
- ``train_models(preprocessed, split, **params)`` -> ``(ModelBundle, report)``
- ``ModelBundle.score / scores_from / score_baselines / xgb_contributions``
- ``chain_scores(bundle, preprocessed, store)`` -> the run's own customers scored out of sample
  (training customers out-of-fold from ``oof_scores.parquet``), with their ``split``
- ``save_model_bundle(bundle, store)`` / ``load_model_bundle(store)``
- ``feature_importance(bundle, preprocessed)`` -> ``(importance, what it measures)``
"""

from ntl.models.bundle import SCORE_COLUMNS, ModelBundle
from ntl.models.chain import OOF_ARTIFACT, chain_scores, out_of_sample_rows
from ntl.models.crossfit import cross_fit_predict, fold_ids, out_of_fold_xgb
from ntl.models.ensemble import ScoreCalibrator, choose_weight, combine, describe_ensemble
from ntl.models.importance import feature_importance
from ntl.models.isolation import ClusterIsolation, ScoreNormaliser, fit_isolation
from ntl.models.metrics import compared_scores, comparison_table, ranking_metrics
from ntl.models.persistence import load_model_bundle, save_model_bundle
from ntl.models.supervised import XGB_DEFAULTS
from ntl.models.training import ModelParameters, train_models
from ntl.split import SPLITS, split_customers, split_mask

__all__ = [
    "OOF_ARTIFACT",
    "SCORE_COLUMNS",
    "SPLITS",
    "XGB_DEFAULTS",
    "ClusterIsolation",
    "ModelBundle",
    "ModelParameters",
    "ScoreCalibrator",
    "ScoreNormaliser",
    "chain_scores",
    "choose_weight",
    "combine",
    "compared_scores",
    "comparison_table",
    "cross_fit_predict",
    "describe_ensemble",
    "feature_importance",
    "fit_isolation",
    "fold_ids",
    "load_model_bundle",
    "out_of_fold_xgb",
    "out_of_sample_rows",
    "ranking_metrics",
    "save_model_bundle",
    "split_customers",
    "split_mask",
    "train_models",
]
