"""ModelBundle: everything needed to score preprocessed customers, and how it scores them.

Saving and loading live in ``ntl.models.persistence``, importance in ``ntl.models.importance``.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ntl.errors import MeterDataError, NtlError
from ntl.frame import ID_COLUMN
from ntl.models.ensemble import ScoreCalibrator, combine
from ntl.models.isolation import ClusterIsolation
from ntl.models.readings import ReadingsBaseline

ALL_CORES = 0  # XGBoost's nthread for "every core the process may use"
# Fewer rows than this are predicted on one thread: waking a thread pool costs more than it saves
# for a handful of customers (one customer in the web app: 60 ms on all cores of a busy machine).
PARALLEL_MIN_ROWS = 256
SCORE_COLUMNS = ("anomaly_score", "xgb_probability", "probability", "risk_score")
# Boosters `keep_on_one_thread` set to one thread: their setting is known without reading the
# booster's config (save_config costs 3-7 ms a call, more than predicting a few customers).
_KEPT_ON_ONE_THREAD: weakref.WeakSet[xgb.Booster] = weakref.WeakSet()


def feature_matrix(preprocessed: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    """The named feature columns as float32 (NaN allowed), or MeterDataError saying what is wrong."""
    if preprocessed.index.name != ID_COLUMN:
        raise MeterDataError(
            f"preprocessed frame: index must be named {ID_COLUMN!r}, got {preprocessed.index.name!r}"
        )
    missing = [name for name in feature_names if name not in preprocessed.columns]
    if missing:
        raise MeterDataError(
            f"preprocessed frame: missing feature columns {missing[:5]} "
            f"({len(missing)} of {len(feature_names)} the models were trained on)"
        )
    columns = preprocessed[feature_names]
    dtypes = columns.dtypes  # one lookup, not a column access per feature
    not_numeric = [c for c, dtype in dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if not_numeric:
        raise MeterDataError(
            f"preprocessed frame: feature columns {not_numeric[:5]} are not numeric"
        )
    matrix = columns.to_numpy(dtype=np.float32, na_value=np.nan)
    return finite_features(matrix, feature_names, preprocessed.index)


def finite_features(matrix: np.ndarray, feature_names: list[str], index: pd.Index) -> np.ndarray:
    """`matrix` (customers of `index` x `feature_names`), or MeterDataError naming the first
    infinite value: no model is given an infinite feature."""
    infinite = np.isinf(matrix)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise MeterDataError(
            f"preprocessed frame: column {feature_names[col]!r} is infinite for {ID_COLUMN} "
            f"{index[row]!r} ({int(infinite.sum())} infinite values in all)"
        )
    return matrix


def prediction_threads(rows: int | None) -> int:
    """XGBoost's nthread for predicting `rows` rows: every core, or one for a few rows."""
    return 1 if rows is not None and rows < PARALLEL_MIN_ROWS else ALL_CORES


@contextmanager
def on_all_cores(booster: xgb.Booster, rows: int | None = None) -> Iterator[xgb.Booster]:
    """`booster` set to predict on every core (one for fewer than PARALLEL_MIN_ROWS `rows`),
    its own thread setting restored afterwards.

    Models are trained with a fixed n_jobs (reproducible fits, polite notebooks); a prediction is
    the same number whatever the thread count (each row is computed on its own), so scoring and
    exact SHAP use the whole machine. Restoring keeps a bundle saved afterwards unchanged.
    """
    trained_with = booster_threads(booster)
    wanted = prediction_threads(rows)
    if wanted == trained_with:  # nothing to switch (the web app's booster stays on one thread)
        yield booster
        return
    kept = booster in _KEPT_ON_ONE_THREAD
    _KEPT_ON_ONE_THREAD.discard(booster)  # switched for this call: its config says how
    booster.set_param({"nthread": wanted})
    try:
        yield booster
    finally:
        booster.set_param({"nthread": trained_with})
        if kept:
            _KEPT_ON_ONE_THREAD.add(booster)


def booster_threads(booster: xgb.Booster) -> int:
    """The booster's current nthread setting (0: every core)."""
    if booster in _KEPT_ON_ONE_THREAD:
        return prediction_threads(1)
    return int(json.loads(booster.save_config())["learner"]["generic_param"]["nthread"])


def keep_on_one_thread(bundle: ModelBundle) -> None:
    """Leave `bundle`'s XGBoost on one thread between calls, for a process that scores a few
    customers at a time (the web app): those predictions then switch nothing, which saved
    1-3 ms a call (reconfiguring the booster); large inputs still switch to every core for
    their call. Only for a bundle that is not saved afterwards (the setting would be saved)."""
    if bundle.xgb is not None:
        booster = bundle.booster()
        booster.set_param({"nthread": prediction_threads(1)})
        _KEPT_ON_ONE_THREAD.add(booster)


def cluster_ids(preprocessed: pd.DataFrame) -> np.ndarray:
    """The ``cluster`` column as int64, a missing cluster counting as -1 (unassigned)."""
    if "cluster" not in preprocessed.columns:
        raise MeterDataError("preprocessed frame: no 'cluster' column")
    column = preprocessed["cluster"]
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":  # no missing possible
        return column.to_numpy(dtype=np.int64)
    return column.astype("Float64").fillna(-1).to_numpy(dtype=np.int64)


@dataclass
class ModelBundle:
    """The fitted models of notebook 03 and how they combine into one score per customer."""

    feature_names: list[str]
    supervised: bool
    ensemble_weight: float | None
    isolation: ClusterIsolation
    xgb: xgb.XGBClassifier | None = None
    calibrator: ScoreCalibrator | None = None
    baselines: dict[str, Any] = field(default_factory=dict)
    readings: ReadingsBaseline | None = None  # the raw-readings baseline (needs consumption)
    detectors: dict[str, ClusterIsolation] = field(default_factory=dict)  # kind -> per cluster
    training_info: dict[str, Any] = field(default_factory=dict)
    # (the classifier's booster, its trees up to the best iteration): see `booster`
    _best_trees: tuple[xgb.Booster, xgb.Booster] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def booster(self) -> xgb.Booster:
        """XGBoost's trees up to its best iteration (early stopping's choice) as a booster of their
        own: what every probability and SHAP value of the bundle comes from.

        The same numbers as the whole booster predicting with that iteration range (tested), but
        TreeSHAP sets up every tree of a booster on each call, the unused ones too: for the
        SGCC-scale model (227 of 277 trees) that was 30 % of the cost of explaining a customer.
        Made once per classifier and kept (a bundle given another classifier makes its own).
        """
        full = self.xgb.get_booster()
        if self._best_trees is None or self._best_trees[0] is not full:
            try:
                best = int(self.xgb.best_iteration)
            except AttributeError:  # trained without early stopping: every tree is used
                best = full.num_boosted_rounds() - 1
            trees = full if best + 1 >= full.num_boosted_rounds() else full[: best + 1]
            self._best_trees = (full, trees)
        return self._best_trees[1]

    def features(self, preprocessed: pd.DataFrame) -> np.ndarray:
        """The bundle's features of `preprocessed`, in training order, as float32."""
        return feature_matrix(preprocessed, self.feature_names)

    def features_of(self, table: np.ndarray, names: Sequence[str], index: pd.Index) -> np.ndarray:
        """`features` of customers given as a float32 matrix whose columns are `names` (such as
        ``ntl.features.FEATURE_NAMES``), for a caller that holds it: no frame is read back."""
        position = {name: column for column, name in enumerate(names)}
        missing = [name for name in self.feature_names if name not in position]
        if missing:
            raise MeterDataError(
                f"feature table: missing feature columns {missing[:5]} "
                f"({len(missing)} of {len(self.feature_names)} the models were trained on)"
            )
        columns = [position[name] for name in self.feature_names]
        matrix = np.ascontiguousarray(table[:, columns], dtype=np.float32)
        return finite_features(matrix, self.feature_names, index)

    def xgb_probability(self, features: np.ndarray) -> np.ndarray:
        """Raw XGBoost probability of theft for a feature matrix (from `features`)."""
        with on_all_cores(self.booster(), rows=len(features)) as booster:
            probability = booster.inplace_predict(features, missing=np.nan, predict_type="value")
        return np.asarray(probability, dtype=np.float64)

    def score(self, preprocessed: pd.DataFrame) -> pd.DataFrame:
        """Scores per customer: anomaly_score, xgb_probability, probability, risk_score.

        Unsupervised bundles give NaN for the two probabilities and rank on the anomaly score.
        """
        return self.score_features(
            self.features(preprocessed), cluster_ids(preprocessed), preprocessed.index.copy()
        )

    def score_features(
        self, features: np.ndarray, clusters: np.ndarray, index: pd.Index
    ) -> pd.DataFrame:
        """`score` of customers given as their feature matrix (`features`, in the bundle's order),
        clusters and index: for a caller that holds the matrix already (the single-customer
        scorer), which saves building a frame only to read it back."""
        return pd.DataFrame(self.score_columns(features, clusters), index=index)

    def score_columns(self, features: np.ndarray, clusters: np.ndarray) -> dict[str, np.ndarray]:
        """`score_features` as its SCORE_COLUMNS arrays, for a caller that needs no frame (the
        web app's single customers)."""
        anomaly = self.isolation.score(features, clusters)
        xgb_probability = self.xgb_probability(features) if self.supervised else None
        return self.combined_scores(anomaly, xgb_probability, len(features))

    def scores_from(
        self, anomaly: np.ndarray, xgb_probability: np.ndarray | None, index: pd.Index
    ) -> pd.DataFrame:
        """The four score columns from the two model outputs: the one place they are combined.

        ``risk_score`` is the ensemble of `xgb_probability` and `anomaly` with the bundle's weight
        and ``probability`` its calibration; without supervision both probabilities are NaN and
        ``risk_score`` is the anomaly score. Used by `score` and for the out-of-fold XGBoost
        probabilities of training customers, so both are combined and calibrated identically.
        """
        return pd.DataFrame(self.combined_scores(anomaly, xgb_probability, len(index)), index=index)

    def combined_scores(
        self, anomaly: np.ndarray, xgb_probability: np.ndarray | None, customers: int
    ) -> dict[str, np.ndarray]:
        """`scores_from` as its SCORE_COLUMNS arrays for `customers` customers."""
        anomaly = np.asarray(anomaly, dtype=np.float64)
        if len(anomaly) != customers:
            raise NtlError(f"{len(anomaly)} anomaly scores for {customers} customers")
        if self.supervised:
            if xgb_probability is None or len(xgb_probability) != customers:
                raise NtlError("a supervised bundle needs one XGBoost probability per customer")
            xgb_probability = np.asarray(xgb_probability, dtype=np.float64)
            risk = combine(xgb_probability, anomaly, self.ensemble_weight)
            probability = self.calibrator.predict(risk)
        else:
            xgb_probability = np.full(len(anomaly), np.nan)
            probability = np.full(len(anomaly), np.nan)
            risk = anomaly
        return dict(zip(SCORE_COLUMNS, (anomaly, xgb_probability, probability, risk), strict=True))

    def score_detectors(self, preprocessed: pd.DataFrame) -> pd.DataFrame:
        """Normalised score of each label-free detector beside the forest, one column per kind
        (``ntl.models.detectors``; none when 03 fitted none)."""
        features = self.features(preprocessed)
        clusters = cluster_ids(preprocessed)
        columns = {kind: model.score(features, clusters) for kind, model in self.detectors.items()}
        return pd.DataFrame(columns, index=preprocessed.index.copy())

    def score_baselines(self, preprocessed: pd.DataFrame) -> pd.DataFrame:
        """Probability of theft from each baseline model, one column per baseline."""
        features = self.features(preprocessed)
        columns = {
            name: model.predict_proba(features)[:, 1].astype(np.float64)
            for name, model in self.baselines.items()
        }
        return pd.DataFrame(columns, index=preprocessed.index.copy())

    def xgb_contributions(
        self, preprocessed: pd.DataFrame, features: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Per-customer SHAP contributions (log-odds) of each feature, plus the ``bias`` column.

        Rows sum to the XGBoost margin. `features`: the bundle's feature matrix of `preprocessed`
        when the caller has it (else read from the frame). Raises NtlError for an unsupervised
        bundle (no XGBoost).
        """
        features = self.features(preprocessed) if features is None else features
        return pd.DataFrame(
            self.xgb_contribution_matrix(features),
            index=preprocessed.index.copy(),
            columns=[*self.feature_names, "bias"],
        )

    def xgb_contribution_matrix(self, features: np.ndarray) -> np.ndarray:
        """`xgb_contributions` of a feature matrix (from `features`) as float64, customers x
        (feature_names, then bias)."""
        if self.xgb is None:
            raise NtlError("this model bundle is unsupervised (no labels): it has no XGBoost model")
        rows = len(features)
        matrix = xgb.DMatrix(features, missing=np.nan, nthread=prediction_threads(rows))
        with on_all_cores(self.booster(), rows=rows) as booster:
            contributions = booster.predict(matrix, pred_contribs=True)
        return contributions.astype(np.float64)
