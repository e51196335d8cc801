"""train_models: fit every model of notebook 03 on train, tune and combine on validation.

The test split is never read here. Order of work: Isolation Forests (train, no labels) ->
XGBoost with early stopping and optional search (train / validation) -> baselines (train) ->
ensemble weight and calibration (validation). Without two label classes in both train and
validation the supervised steps are skipped and the bundle ranks on the anomaly score alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from ntl.errors import MeterDataError, ParameterError
from ntl.frame import feature_columns, labels
from ntl.models.bundle import ModelBundle, cluster_ids, feature_matrix
from ntl.models.ensemble import (
    CALIBRATION_METHODS,
    ScoreCalibrator,
    choose_weight,
    out_of_fold_probability,
)
from ntl.models.isolation import fit_isolation
from ntl.models.metrics import comparison_table
from ntl.models.split import split_mask
from ntl.models.supervised import check_xgb_params, fit_baselines, learning_curve, search_xgb


@dataclass(frozen=True)
class ModelParameters:
    """Every knob of train_models, with the defaults notebook 03 uses."""

    seed: int = 42
    min_cluster_size: int = 200  # clusters with fewer training customers use the global forest
    if_n_estimators: int = 100  # trees per Isolation Forest
    if_max_samples: int | float | str = "auto"  # customers drawn per tree ("auto" = min(256, n))
    xgb_params: dict[str, Any] = field(default_factory=dict)  # overrides of XGB_DEFAULTS
    early_stopping_rounds: int = 30  # rounds without validation PR-AUC gain before stopping
    search_seconds: float = 0.0  # random-search time budget (0 = no search)
    search_max_candidates: int = 50  # cap on search trials
    calibration: str = "isotonic"  # "isotonic" or "sigmoid" (Platt)
    rf_n_estimators: int = 100  # trees of the random-forest baseline
    rf_max_depth: int | None = 12  # depth cap of the random-forest baseline
    n_jobs: int = 1  # threads (1 is fastest on shared cores: OpenMP threads wait on each other)

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATION_METHODS:
            raise ParameterError(
                f"calibration must be one of {CALIBRATION_METHODS}, got {self.calibration!r}"
            )
        check_xgb_params(self.xgb_params)
        if self.early_stopping_rounds < 1 or self.rf_n_estimators < 1 or self.n_jobs < 1:
            raise ParameterError("early_stopping_rounds, rf_n_estimators and n_jobs must be >= 1")

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> ModelParameters:
        """Build from keyword values; an unknown name raises ParameterError listing the known."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ParameterError(f"unknown model parameters {unknown}; known: {sorted(known)}")
        return cls(**params)


class _Stopwatch:
    """Seconds spent per named step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)


def _labelled_classes(flag: pd.Series) -> tuple[bool, bool]:
    known = flag.dropna()
    return bool((known == 1).any()), bool((known == 0).any())


def supervision_decision(flag: pd.Series, train: np.ndarray, valid: np.ndarray) -> tuple[bool, str]:
    """Whether supervised models can be trained, and why (in words for the notebook)."""
    if flag.isna().all():
        return False, "FLAG is missing for every customer: ranking on the anomaly score only"
    for name, rows in (("training", train), ("validation", valid)):
        thieves, normal = _labelled_classes(flag[rows])
        if not (thieves and normal):
            return False, (
                f"the {name} split has no labelled {'thief' if not thieves else 'normal customer'}: "
                "supervised models cannot be trained or checked, ranking on the anomaly score only"
            )
    return True, "both classes present in training and validation: supervised models trained"


def _size_summary(flag: pd.Series, masks: Mapping[str, np.ndarray]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, rows in masks.items():
        known = flag[rows].dropna()
        summary[name] = {
            "customers": int(rows.sum()),
            "labelled": int(len(known)),
            "thieves": int((known == 1).sum()),
            "theft_rate": float((known == 1).mean()) if len(known) else None,
        }
    return summary


def train_models(
    preprocessed: pd.DataFrame, split: pd.DataFrame, **params: Any
) -> tuple[ModelBundle, dict[str, Any]]:
    """Fit the bundle on the train split, tune it on validation; returns (bundle, report).

    `params` are ModelParameters fields. The report holds: ``supervised`` and ``reason``, ``sizes``,
    ``times`` (seconds per step), ``isolation_members``, and when supervised ``learning_curve``,
    ``best_iteration``, ``xgb_params``, ``search`` (trials), ``weight_curve``,
    ``validation_table`` (ROC-AUC, PR-AUC, precision at 1 % / 5 % per model), plus
    ``validation_scores`` (the validation customers' scores, FLAG and cross-fitted probability).
    """
    options = ModelParameters.from_mapping(params)
    names = feature_columns(preprocessed)
    if not names:
        raise MeterDataError(
            "preprocessed frame: no feature columns after FLAG/quality_flag/cluster"
        )
    features = feature_matrix(preprocessed, names)
    clusters = cluster_ids(preprocessed)
    flag = labels(preprocessed)
    train = split_mask(split, "train", preprocessed.index)
    valid = split_mask(split, "validation", preprocessed.index)
    if train.sum() < 2 or valid.sum() < 1:
        raise MeterDataError(
            f"split: need >= 2 training and >= 1 validation customers, got {int(train.sum())} "
            f"and {int(valid.sum())}"
        )
    watch = _Stopwatch()
    with watch.step("isolation_forests"):
        isolation = fit_isolation(
            features[train],
            clusters[train],
            names,
            min_cluster_size=options.min_cluster_size,
            n_estimators=options.if_n_estimators,
            max_samples=options.if_max_samples,
            seed=options.seed,
            n_jobs=options.n_jobs,
        )
    supervised, reason = supervision_decision(flag, train, valid)
    bundle = ModelBundle(names, supervised, None, isolation)
    report: dict[str, Any] = {"supervised": supervised, "reason": reason}
    if supervised:
        report.update(
            _train_supervised(bundle, features, clusters, flag, train, valid, options, watch)
        )
    with watch.step("scoring_validation"):
        scores = bundle.score(preprocessed.loc[valid])
    scores.insert(0, "FLAG", flag[valid])
    if supervised:
        known = scores["FLAG"].notna().to_numpy()
        scores["probability_out_of_fold"] = np.nan
        scores.loc[known, "probability_out_of_fold"] = out_of_fold_probability(
            scores.loc[known, "risk_score"].to_numpy(),
            scores.loc[known, "FLAG"].to_numpy(dtype=np.int64),
            options.calibration,
            seed=options.seed,
        )
        report["validation_table"] = _validation_table(bundle, preprocessed, scores, valid)
    masks = {"train": train, "validation": valid, "test": ~(train | valid)}
    report.update(
        sizes=_size_summary(flag, masks),
        times=dict(watch.seconds),
        validation_scores=scores,
        isolation_members=pd.Series(
            {k: m.n_train for k, m in isolation.members.items()}, name="training_customers"
        ),
    )
    bundle.training_info = {
        "parameters": asdict(options),
        "supervision_reason": reason,
        "training_sizes": report["sizes"],
        "times_seconds": report["times"],
        "best_iteration": report.get("best_iteration"),
        "xgb_params": report.get("xgb_params"),
        "validation_table": (
            report["validation_table"].reset_index().to_dict(orient="records")
            if supervised
            else None
        ),
    }
    return bundle, report


def _train_supervised(
    bundle: ModelBundle,
    features: np.ndarray,
    clusters: np.ndarray,
    flag: pd.Series,
    train: np.ndarray,
    valid: np.ndarray,
    options: ModelParameters,
    watch: _Stopwatch,
) -> dict[str, Any]:
    """XGBoost (+ search), baselines, ensemble weight and calibrator; fills `bundle` in place."""
    known = flag.notna().to_numpy()
    fit_rows, tune_rows = train & known, valid & known
    y = flag.fillna(0).to_numpy(dtype=np.int64)
    fit_data = (features[fit_rows], y[fit_rows])
    tune_data = (features[tune_rows], y[tune_rows])
    with watch.step("xgboost"):
        model, chosen, trials = search_xgb(
            fit_data,
            tune_data,
            options.xgb_params,
            search_seconds=options.search_seconds,
            max_candidates=options.search_max_candidates,
            early_stopping_rounds=options.early_stopping_rounds,
            seed=options.seed,
            n_jobs=options.n_jobs,
        )
    with watch.step("baselines"):
        bundle.baselines = fit_baselines(
            *fit_data,
            rf_n_estimators=options.rf_n_estimators,
            rf_max_depth=options.rf_max_depth,
            seed=options.seed,
            n_jobs=options.n_jobs,
        )
    with watch.step("ensemble_and_calibration"):
        bundle.xgb = model
        xgb_probability = model.predict_proba(tune_data[0])[:, 1].astype(np.float64)
        anomaly = bundle.isolation.score(tune_data[0], clusters[tune_rows])
        weight, weight_curve = choose_weight(tune_data[1], xgb_probability, anomaly)
        bundle.ensemble_weight = weight
        risk = weight * xgb_probability + (1 - weight) * anomaly
        bundle.calibrator = ScoreCalibrator.fit(risk, tune_data[1], options.calibration)
    return {
        "learning_curve": learning_curve(model),
        "best_iteration": int(model.best_iteration),
        "best_validation_aucpr": float(model.best_score),
        "xgb_params": chosen,
        "search": trials,
        "weight_curve": weight_curve,
        "ensemble_weight": weight,
    }


def _validation_table(
    bundle: ModelBundle, preprocessed: pd.DataFrame, scores: pd.DataFrame, valid: np.ndarray
) -> pd.DataFrame:
    """Ranking metrics of every model on the labelled validation customers."""
    known = scores["FLAG"].notna().to_numpy()
    baselines = bundle.score_baselines(preprocessed.loc[valid])
    ranked = {
        "ensemble (risk_score)": scores["risk_score"],
        "xgboost": scores["xgb_probability"],
        "isolation_forest": scores["anomaly_score"],
        **{name: baselines[name] for name in baselines.columns},
    }
    y_true = scores.loc[known, "FLAG"].to_numpy(dtype=np.int64)
    return comparison_table(y_true, {k: v.to_numpy()[known] for k, v in ranked.items()})
