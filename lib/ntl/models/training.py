"""train_models: fit every model of notebook 03 on train, tune and combine on validation.

The test split is never read here. Order of work: Isolation Forests (train, no labels) ->
XGBoost with early stopping and optional search (train / validation) -> baselines (train) ->
ensemble weight and calibration (validation) -> out-of-fold XGBoost probabilities for the
labelled training customers, combined and calibrated like every other score (see
`ntl.models.crossfit`). Without two label classes in both train and validation the supervised
steps are skipped and the bundle ranks on the anomaly score alone.
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
from ntl.frame import consumption_matrix, day_columns, feature_columns, labels
from ntl.models.bundle import ModelBundle, cluster_ids, feature_matrix
from ntl.models.crossfit import fold_count, out_of_fold_xgb
from ntl.models.detectors import DETECTOR_KINDS, fit_detector
from ntl.models.ensemble import (
    CALIBRATION_METHODS,
    WEIGHT_SOURCE,
    ScoreCalibrator,
    choose_weight,
    combine,
    describe_ensemble,
    out_of_fold_probability,
)
from ntl.models.isolation import ClusterIsolation, fit_isolation
from ntl.models.metrics import compared_scores, comparison_table, ranking_metrics
from ntl.models.readings import RAW_RECIPE, ReadingsBaseline, ReadingsLayout, readings_values
from ntl.models.supervised import (
    check_xgb_params,
    fit_baselines,
    learning_curve,
    search_xgb,
    xgb_classifier,
)
from ntl.split import split_mask


@dataclass(frozen=True)
class ModelParameters:
    """Every knob of train_models, with the defaults notebook 03 uses."""

    seed: int = 42
    min_cluster_size: int = 200  # clusters with fewer training customers use the global forest
    if_n_estimators: int = 100  # trees per Isolation Forest
    if_max_samples: int | float | str = "auto"  # customers drawn per tree ("auto" = min(256, n))
    xgb_params: dict[str, Any] = field(default_factory=dict)  # overrides of XGB_DEFAULTS
    early_stopping_rounds: int = 50  # rounds without validation PR-AUC gain before stopping
    oof_folds: int = 5  # folds of the out-of-fold XGBoost scores of training customers
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
        if self.oof_folds < 2:
            raise ParameterError(f"oof_folds must be >= 2, got {self.oof_folds}")

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


def size_summary(flag: pd.Series, masks: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Customers, labelled customers, thieves and theft rate of each split (both paths)."""
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
    preprocessed: pd.DataFrame,
    split: pd.DataFrame,
    consumption: pd.DataFrame | None = None,
    **params: Any,
) -> tuple[ModelBundle, dict[str, Any]]:
    """Fit the bundle on the train split, tune it on validation; returns (bundle, report).

    `params` are ModelParameters fields. With the customers' `consumption` (the canonical frame
    02 read) and labels, the raw-readings baseline is fitted too (`ntl.models.readings`). The report holds: ``supervised`` and ``reason``, ``sizes``,
    ``times`` (seconds per step), ``isolation_members``, and when supervised ``learning_curve``,
    ``best_iteration``, ``stopping`` (words), ``xgb_params``, ``search`` (trials),
    ``weight_curve``, ``ensemble_description``, ``validation_table`` (ROC-AUC, PR-AUC, precision
    at 1 % / 5 % per model), ``validation_scores`` (the validation customers' scores, FLAG and
    cross-fitted probability), ``oof_scores`` (out-of-fold scores of the labelled training
    customers, None when there are too few thieves for two folds), ``oof_fold`` and
    ``oof_table`` (ranking quality of training customers in-sample and out-of-fold against
    validation).
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
    detectors = {}
    with watch.step("isolation_forests"):
        isolation = isolation_with(options, features[train], clusters[train], names)
    for kind in DETECTOR_KINDS:  # label-free, beside the forests
        with watch.step(kind):
            detectors[kind] = fit_detector(
                kind,
                features[train],
                clusters[train],
                names,
                min_cluster_size=options.min_cluster_size,
                seed=options.seed,
            )
    supervised, reason = supervision_decision(flag, train, valid)
    bundle = ModelBundle(names, supervised, None, isolation, detectors=detectors)
    report: dict[str, Any] = {"supervised": supervised, "reason": reason}
    fit_rows = train & flag.notna().to_numpy()
    if supervised:
        report.update(
            _train_supervised(bundle, features, clusters, flag, fit_rows, valid, options, watch)
        )
        if consumption is not None:
            with watch.step("raw_readings_baseline"):
                bundle.readings = fit_readings_baseline(
                    consumption.reindex(preprocessed.index),
                    flag,
                    fit_rows,
                    valid & flag.notna().to_numpy(),
                    report["xgb_params"],
                    options,
                )
        with watch.step("out_of_fold"):
            report.update(
                _out_of_fold(
                    bundle, report, preprocessed.index, features, clusters, flag, fit_rows, options
                )
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
            folds=options.oof_folds,
            seed=options.seed,
        )
        table = validation_table(bundle, preprocessed, scores, valid, consumption)
        report["validation_table"] = table
        report["ensemble_description"] = ensemble_sentence(bundle, table)
        if report["oof_scores"] is not None:
            report["oof_table"] = out_of_fold_table(report, flag, scores)
    masks = {"train": train, "validation": valid, "test": ~(train | valid)}
    report.update(
        sizes=size_summary(flag, masks),
        times=dict(watch.seconds),
        validation_scores=scores,
        isolation_members=pd.Series(
            {k: m.n_train for k, m in isolation.members.items()}, name="training_customers"
        ),
    )
    bundle.training_info = training_info(options, reason, report)
    return bundle, report


def isolation_with(
    options: ModelParameters, features: np.ndarray, clusters: np.ndarray, names: list[str]
) -> ClusterIsolation:
    """The Isolation Forests per cluster with the run's settings, on the training customers'
    `features` (the in-memory training and the Dask path's sample alike)."""
    return fit_isolation(
        features,
        clusters,
        names,
        min_cluster_size=options.min_cluster_size,
        n_estimators=options.if_n_estimators,
        max_samples=options.if_max_samples,
        seed=options.seed,
        n_jobs=options.n_jobs,
    )


def ensemble_sentence(bundle: ModelBundle, table: pd.DataFrame) -> str:
    """The ensemble's weight in words, with the validation PR-AUC of it and of its two parts
    (rows of validation_table)."""
    return describe_ensemble(
        bundle.ensemble_weight,
        {
            "ensemble": table.loc["ensemble (risk_score)", "pr_auc"],
            "xgboost": table.loc["xgboost", "pr_auc"],
            "isolation_forest": table.loc["isolation_forest", "pr_auc"],
        },
    )


def training_info(options: ModelParameters, reason: str, report: dict[str, Any]) -> dict[str, Any]:
    """What metadata.json records about the training run (JSON-ready)."""
    oof_table = report.get("oof_table")
    return {
        "parameters": asdict(options),
        "supervision_reason": reason,
        "training_sizes": report["sizes"],
        "times_seconds": report["times"],
        "best_iteration": report.get("best_iteration"),
        "rounds_trained": report.get("rounds_trained"),
        "early_stopping": report.get("stopping"),
        "xgb_params": report.get("xgb_params"),
        "ensemble_description": report.get("ensemble_description"),
        "ensemble_weight_source": report.get("ensemble_weight_source"),
        "out_of_fold": (
            {
                "folds": report["oof_folds_used"],
                "customers": len(report["oof_scores"]),
                "rounds": report["best_iteration"] + 1,
                "risk_score_metrics": oof_table.reset_index().to_dict(orient="records"),
            }
            if oof_table is not None
            else None
        ),
        "validation_table": (
            report["validation_table"].reset_index().to_dict(orient="records")
            if report["supervised"]
            else None
        ),
    }


def stopping_summary(best_iteration: int, rounds_trained: int, cap: int, patience: int) -> str:
    """In words: did early stopping end the fit, or did it run into the round cap?"""
    best_round = best_iteration + 1
    if rounds_trained < cap:
        return (
            f"early stopping ended the fit: validation PR-AUC peaked at round {best_round} and did "
            f"not improve in the next {rounds_trained - best_round} rounds (cap {cap}); the model "
            f"keeps round {best_round}"
        )
    if best_round > cap - patience:
        return (
            f"the fit hit the cap of {cap} rounds with validation PR-AUC still improving (best "
            f"round {best_round}): raise xgb_n_estimators or the learning rate"
        )
    return (
        f"the fit used all {cap} rounds; validation PR-AUC peaked at round {best_round}, which "
        "the model keeps"
    )


def _train_supervised(
    bundle: ModelBundle,
    features: np.ndarray,
    clusters: np.ndarray,
    flag: pd.Series,
    fit_rows: np.ndarray,
    valid: np.ndarray,
    options: ModelParameters,
    watch: _Stopwatch,
) -> dict[str, Any]:
    """XGBoost (+ search), baselines, ensemble weight and calibrator; fills `bundle` in place."""
    tune_rows = valid & flag.notna().to_numpy()
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
        risk = combine(xgb_probability, anomaly, weight)
        bundle.calibrator = ScoreCalibrator.fit(risk, tune_data[1], options.calibration)
    curve = learning_curve(model)
    cap = int(chosen["n_estimators"])
    return {
        "learning_curve": curve,
        "best_iteration": int(model.best_iteration),
        "best_validation_aucpr": float(model.best_score),
        "rounds_trained": len(curve),
        "round_cap": cap,
        "stopping": stopping_summary(
            int(model.best_iteration), len(curve), cap, options.early_stopping_rounds
        ),
        "xgb_params": chosen,
        "search": trials,
        "weight_curve": weight_curve,
        "ensemble_weight": weight,
        "ensemble_weight_source": WEIGHT_SOURCE,
    }


def fit_readings_baseline(
    consumption: pd.DataFrame,
    flag: pd.Series,
    fit_rows: np.ndarray,
    tune_rows: np.ndarray,
    xgb_params: Mapping[str, Any],
    options: ModelParameters,
) -> ReadingsBaseline:
    """XGBoost on the raw readings of the labelled training customers, stopped early on the
    labelled validation customers: the headline XGBoost's recipe and hyperparameters with
    `RAW_RECIPE` on top (the bar the engineered features must clear). No train curve is kept."""
    layout = ReadingsLayout.for_history(len(day_columns(consumption)))
    values = readings_values(consumption_matrix(consumption), layout)
    y = flag.fillna(0).to_numpy(dtype=np.int64)
    model = xgb_classifier(
        {**xgb_params, **RAW_RECIPE},
        y[fit_rows],
        early_stopping_rounds=options.early_stopping_rounds,
        seed=options.seed,
        n_jobs=options.n_jobs,
    )
    model.fit(
        values[fit_rows], y[fit_rows], eval_set=[(values[tune_rows], y[tune_rows])], verbose=False
    )
    return ReadingsBaseline(layout, model)


def _out_of_fold(
    bundle: ModelBundle,
    supervised_report: dict[str, Any],
    index: pd.Index,
    features: np.ndarray,
    clusters: np.ndarray,
    flag: pd.Series,
    fit_rows: np.ndarray,
    options: ModelParameters,
) -> dict[str, Any]:
    """Out-of-fold scores of the customers XGBoost was fitted on (see ntl.models.crossfit).

    Fold models repeat the main model's recipe; their probabilities then go through the bundle's
    own combination and calibration (`ModelBundle.scores_from`). The anomaly score is the bundle's:
    the forests never saw a label, so it carries no label leak. Unlabelled training customers are
    not here: XGBoost never saw them, so the bundle already scores them out of sample.
    """
    y = flag.fillna(0).to_numpy(dtype=np.int64)[fit_rows]
    rows = index[fit_rows]
    folds = fold_count(y, options.oof_folds)
    if folds < 2:
        return {"oof_scores": None, "oof_fold": None, "oof_folds_used": folds}
    xgb_probability, fold = out_of_fold_xgb(
        features[fit_rows],
        y,
        supervised_report["xgb_params"],
        n_rounds=supervised_report["best_iteration"] + 1,
        folds=options.oof_folds,
        seed=options.seed,
        n_jobs=options.n_jobs,
    )
    anomaly = bundle.isolation.score(features[fit_rows], clusters[fit_rows])
    in_sample = bundle.scores_from(anomaly, bundle.xgb_probability(features[fit_rows]), rows)
    return {
        "oof_scores": bundle.scores_from(anomaly, xgb_probability, rows),
        "oof_fold": pd.Series(fold, index=rows, name="fold"),
        "oof_folds_used": folds,
        "train_scores_in_sample": in_sample,
    }


def out_of_fold_table(
    report: dict[str, Any], flag: pd.Series, validation: pd.DataFrame
) -> pd.DataFrame:
    """Ranking metrics of risk_score: training customers in-sample, out-of-fold, and validation.

    Out-of-fold numbers close to validation (and below in-sample) show the training customers'
    scores on the list are as honest as the validation customers'.
    """
    oof, in_sample = report["oof_scores"], report["train_scores_in_sample"]
    y_train = flag.loc[oof.index].to_numpy(dtype=np.int64)
    known = validation["FLAG"].notna().to_numpy()
    rows = {
        "train, in-sample": ranking_metrics(y_train, in_sample["risk_score"].to_numpy()),
        "train, out-of-fold": ranking_metrics(y_train, oof["risk_score"].to_numpy()),
        "validation": ranking_metrics(
            validation.loc[known, "FLAG"].to_numpy(dtype=np.int64),
            validation.loc[known, "risk_score"].to_numpy(),
        ),
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "customers"
    return table


def validation_table(
    bundle: ModelBundle,
    preprocessed: pd.DataFrame,
    scores: pd.DataFrame,
    valid: np.ndarray,
    consumption: pd.DataFrame | None,
) -> pd.DataFrame:
    """Ranking metrics of every model on the labelled validation customers."""
    known = scores["FLAG"].notna().to_numpy()
    ranked = compared_scores(bundle, scores, preprocessed.loc[valid], consumption)
    y_true = scores.loc[known, "FLAG"].to_numpy(dtype=np.int64)
    return comparison_table(y_true, {k: v.to_numpy()[known] for k, v in ranked.items()})
