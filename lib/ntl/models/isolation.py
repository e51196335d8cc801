"""Isolation Forests per consumption cluster, with scores normalised to [0, 1] within each.

Why per cluster: "unusual" depends on the kind of customer. A flat, low profile is normal for a
small flat and suspicious for a shop; one forest per cluster judges each customer against peers.
Clusters with fewer than `min_cluster_size` training customers, the unassigned cluster -1 and any
cluster first seen at scoring time use one global forest trained on all training customers.

Normalisation: a raw score means different things in different forests, so each forest's scores are
mapped through the empirical CDF of its own training scores (linear between training points, clipped
to [0, 1]): 0.97 means "more anomalous than 97 % of the training customers of that cluster", in
every cluster. Missing feature values are filled with the training median (a missing value counts
as typical, never as suspicious on its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length
from sklearn.impute import SimpleImputer

from ntl.errors import ParameterError

GLOBAL_KEY = "global"
UNASSIGNED_CLUSTER = -1


@dataclass
class ScoreNormaliser:
    """Empirical CDF of one forest's training scores: raw score -> share of training below it."""

    reference: np.ndarray  # distinct training scores, ascending
    positions: np.ndarray  # their mid-rank ECDF position in [0, 1]

    @classmethod
    def fit(cls, raw_scores: np.ndarray) -> ScoreNormaliser:
        """Learn the CDF of `raw_scores` (ties share their average position)."""
        raw_scores = np.asarray(raw_scores, dtype=np.float64)
        if raw_scores.size == 0 or not np.all(np.isfinite(raw_scores)):
            raise ValueError("ScoreNormaliser needs at least one finite training score")
        reference, counts = np.unique(raw_scores, return_counts=True)
        before = np.concatenate([[0], np.cumsum(counts)[:-1]])
        mid_rank = before + (counts - 1) / 2.0
        n = raw_scores.size
        positions = mid_rank / (n - 1) if n > 1 else np.full(1, 0.5)
        return cls(reference=reference, positions=positions)

    def to_state(self) -> dict[str, np.ndarray]:
        """The ECDF as skops-safe arrays (``reference``, ``positions``), for every detector's
        saved state."""
        return {
            "reference": np.asarray(self.reference, dtype=np.float64),
            "positions": np.asarray(self.positions, dtype=np.float64),
        }

    @classmethod
    def from_state(cls, state: dict) -> ScoreNormaliser:
        """Inverse of `to_state` (extra keys of a detector's state are ignored)."""
        return cls(
            reference=np.asarray(state["reference"], dtype=np.float64),
            positions=np.asarray(state["positions"], dtype=np.float64),
        )

    def transform(self, raw_scores: np.ndarray) -> np.ndarray:
        """Map raw scores into [0, 1]; beyond the training range they clip to 0 or 1."""
        raw_scores = np.asarray(raw_scores, dtype=np.float64)
        if self.reference.size == 1:
            only = self.reference[0]
            return np.where(raw_scores > only, 1.0, np.where(raw_scores < only, 0.0, 0.5))
        return np.interp(raw_scores, self.reference, self.positions, left=0.0, right=1.0)


@dataclass
class IsolationMember:
    """One fitted forest (a cluster's or the global one) and the normaliser of its scores."""

    key: str
    forest: IsolationForest
    normaliser: ScoreNormaliser
    n_train: int

    def raw_scores(self, features: np.ndarray) -> np.ndarray:
        """Anomaly scores in the forest's own scale (higher = more anomalous)."""
        return forest_anomaly_scores(self.forest, features)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Normalised anomaly scores in [0, 1]."""
        return self.normaliser.transform(self.raw_scores(features))


@dataclass
class ClusterIsolation:
    """Per-cluster forests plus the global one; scores any preprocessed customers."""

    feature_names: list[str]
    fill_values: np.ndarray
    min_cluster_size: int
    members: dict[str, IsolationMember] = field(default_factory=dict)

    @property
    def cluster_keys(self) -> list[str]:
        """Keys of every member, clusters first (ascending) then ``global``."""
        clusters = sorted((k for k in self.members if k != GLOBAL_KEY), key=int)
        return [*clusters, GLOBAL_KEY]

    def model_keys(self, clusters: np.ndarray) -> np.ndarray:
        """Which member scores each customer: its cluster's forest when there is one, else global."""
        keys = np.asarray(clusters, dtype=np.int64).astype(str).astype(object)
        known = np.isin(keys, [k for k in self.members if k != GLOBAL_KEY])
        keys[~known] = GLOBAL_KEY
        return keys

    def score(self, features: np.ndarray, clusters: np.ndarray) -> np.ndarray:
        """Normalised anomaly score per customer: one vectorised call per member."""
        filled = fill_missing(features, self.fill_values)
        keys = self.model_keys(clusters)
        scores = np.empty(len(filled), dtype=np.float64)
        for key in self.cluster_keys:  # a handful of clusters, never one call per customer
            rows = keys == key
            if rows.any():
                scores[rows] = self.members[key].score(filled[rows])
        return scores


def forest_anomaly_scores(forest: IsolationForest, features: np.ndarray) -> np.ndarray:
    """``-forest.score_samples(features)``, bit for bit, without scikit-learn's per-tree overhead.

    scikit-learn walks the trees through joblib, checking and configuring each call: about
    0.13 ms a tree, 13 ms for one customer and 100 trees, which was a third of a web request.
    This sums the same per-tree path lengths in the same (tree) order with the trees' own
    ``apply``, so every number is identical (a test compares them); forests without the
    attributes it reads (another scikit-learn) go through ``score_samples``.
    """
    try:
        path_lengths = forest._decision_path_lengths
        average_lengths = forest._average_path_length_per_tree
        max_samples = forest._max_samples
        subsample = forest._max_features != features.shape[1]
    except AttributeError:
        return -forest.score_samples(features)
    matrix = np.ascontiguousarray(features, dtype=np.float32)
    depths = np.zeros(len(matrix), dtype=np.float64)
    trees = zip(
        forest.estimators_, forest.estimators_features_, path_lengths, average_lengths, strict=True
    )
    for tree, columns, lengths, averages in trees:  # the forest's trees, never its rows
        subset = np.ascontiguousarray(matrix[:, columns]) if subsample else matrix
        leaves = tree.tree_.apply(subset)
        depths += lengths[leaves] + averages[leaves] - 1.0
    denominator = len(forest.estimators_) * _average_path_length([max_samples])
    ratio = np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)
    return 2**-ratio  # score_samples is minus this


def fill_missing(features: np.ndarray, fill_values: np.ndarray) -> np.ndarray:
    """Copy of `features` (float32) with NaN replaced column-wise by `fill_values`."""
    filled = np.array(features, dtype=np.float32, copy=True)
    rows, cols = np.nonzero(np.isnan(filled))
    filled[rows, cols] = fill_values[cols]
    return filled


def training_medians(features: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN (scikit-learn's SimpleImputer, as the baselines use); a column
    with no value at all gets 0. Kept as a plain array so the fitted forests persist as data."""
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    imputer.fit(np.asarray(features, dtype=np.float32))
    return imputer.statistics_.astype(np.float32)


def _fit_member(
    key: str, features: np.ndarray, *, n_estimators: int, max_samples, seed: int, n_jobs: int
) -> IsolationMember:
    forest = IsolationForest(
        n_estimators=n_estimators, max_samples=max_samples, random_state=seed, n_jobs=n_jobs
    )
    forest.fit(features)
    raw = -forest.score_samples(features)
    return IsolationMember(key, forest, ScoreNormaliser.fit(raw), n_train=len(features))


def fit_isolation(
    features: np.ndarray,
    clusters: np.ndarray,
    feature_names: list[str],
    *,
    min_cluster_size: int = 200,
    n_estimators: int = 100,
    max_samples: int | float | str = "auto",
    seed: int = 42,
    n_jobs: int = 1,
) -> ClusterIsolation:
    """Fit the global forest and one forest per cluster with >= `min_cluster_size` customers.

    `features` are the training customers only (no labels are used). Every forest gets
    ``random_state=seed``, so the same inputs give the same forests.
    """
    if min_cluster_size < 2:
        raise ParameterError(f"if_min_cluster_size must be >= 2, got {min_cluster_size}")
    if n_estimators < 1:
        raise ParameterError(f"if_n_estimators must be >= 1, got {n_estimators}")
    if len(features) < 2:
        raise ParameterError(f"Isolation Forest needs >= 2 training customers, got {len(features)}")
    fill_values = training_medians(features)
    filled = fill_missing(features, fill_values)
    clusters = np.asarray(clusters, dtype=np.int64)
    options = {
        "n_estimators": n_estimators,
        "max_samples": max_samples,
        "seed": seed,
        "n_jobs": n_jobs,
    }
    model = ClusterIsolation(list(feature_names), fill_values, int(min_cluster_size))
    model.members[GLOBAL_KEY] = _fit_member(GLOBAL_KEY, filled, **options)
    ids, counts = np.unique(clusters, return_counts=True)
    for cluster, count in zip(ids, counts, strict=True):  # one forest per cluster
        if cluster != UNASSIGNED_CLUSTER and count >= min_cluster_size:
            key = str(int(cluster))
            model.members[key] = _fit_member(key, filled[clusters == cluster], **options)
    return model
