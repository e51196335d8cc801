"""Two more label-free detectors beside the Isolation Forest, per cluster like it.

- **One-Class SVM** that scales: the features mapped to quantiles (robust to the heavy tails of
  ratios), an approximate RBF kernel map (``Nystroem``) and a linear one-class SVM trained by
  SGD (``SGDOneClassSVM``); the anomaly score is minus its decision score.
- **Autoencoder**: a small bottleneck network (scikit-learn's ``MLPRegressor``) trained to
  reproduce the quantile-mapped features through a narrow middle layer; the anomaly score is the
  mean squared reconstruction error (what the network could not learn as typical).

Both are fitted, like the forests, on the training customers of each cluster with at least
``min_cluster_size`` of them, plus one global model for the rest; no label is read. Each is fitted
on a seeded sample of at most `DETECTOR_SAMPLE` customers per cluster, which bounds 03's time at
any scale, and its scores are normalised by the ECDF of its own training scores (as the forests'
are), so 0.97 means "more unusual than 97 % of this cluster's training customers". Missing values
are filled with the training medians, as for the forests.

Notebook 03 compares the three on validation and 04 on test (with recall per attack type); the
ensemble and the label-free ranking keep the Isolation Forest (see DESIGN.md for the figures).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import SGDOneClassSVM
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from ntl.errors import ParameterError
from ntl.models.isolation import (
    GLOBAL_KEY,
    UNASSIGNED_CLUSTER,
    ClusterIsolation,
    ScoreNormaliser,
    fill_missing,
    training_medians,
)

ONE_CLASS_SVM = "one_class_svm"
AUTOENCODER = "autoencoder"
DETECTOR_KINDS = (ONE_CLASS_SVM, AUTOENCODER)
DETECTOR_SAMPLE = 4000  # training customers per fitted model, at most (seeded sample)
KERNEL_COMPONENTS = 100  # Nystroem components of the approximate kernel map
SVM_NU = 0.1  # share of training customers the one-class SVM may leave outside
BOTTLENECK = (32, 6, 32)  # hidden layers of the autoencoder: 6 units in the middle
AUTOENCODER_EPOCHS = 60  # passes over the sample


def _quantiles(n_rows: int, seed: int) -> QuantileTransformer:
    return QuantileTransformer(
        n_quantiles=min(200, n_rows), output_distribution="normal", random_state=seed
    )


@dataclass
class DetectorMember:
    """One fitted detector (a cluster's or the global one) and the ECDF of its scores.

    Scores like ``IsolationMember``, so ``ClusterIsolation`` routes customers to it the same way.
    """

    key: str
    kind: str
    model: Pipeline  # quantile map + kernel + SVM, or quantile map + network
    normaliser: ScoreNormaliser
    n_train: int

    def raw_scores(self, features: np.ndarray) -> np.ndarray:
        """Anomaly scores in the detector's own scale (higher = more unusual)."""
        if self.kind == ONE_CLASS_SVM:
            return -self.model.score_samples(features).astype(np.float64)
        mapped = self.model[:-1].transform(features)
        rebuilt = self.model[-1].predict(mapped)
        return np.mean((mapped - rebuilt) ** 2, axis=1, dtype=np.float64)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Normalised anomaly scores in [0, 1]."""
        return self.normaliser.transform(self.raw_scores(features))


def detector_pipeline(kind: str, n_rows: int, seed: int) -> Pipeline:
    """The unfitted pipeline of a detector kind."""
    if kind == ONE_CLASS_SVM:
        return Pipeline(
            [
                ("quantiles", _quantiles(n_rows, seed)),
                (
                    "kernel",
                    Nystroem(n_components=min(KERNEL_COMPONENTS, n_rows), random_state=seed),
                ),
                ("svm", SGDOneClassSVM(nu=SVM_NU, random_state=seed)),
            ]
        )
    if kind == AUTOENCODER:
        network = MLPRegressor(
            hidden_layer_sizes=BOTTLENECK,
            max_iter=AUTOENCODER_EPOCHS,
            random_state=seed,
            batch_size=min(200, n_rows),
        )
        return Pipeline([("quantiles", _quantiles(n_rows, seed)), ("network", network)])
    raise ParameterError(f"detector must be one of {DETECTOR_KINDS}, got {kind!r}")


def _fit_member(kind: str, key: str, filled: np.ndarray, seed: int) -> DetectorMember:
    rows = filled
    if len(filled) > DETECTOR_SAMPLE:
        chosen = np.random.default_rng(seed).choice(len(filled), DETECTOR_SAMPLE, replace=False)
        rows = filled[np.sort(chosen)]
    pipeline = detector_pipeline(kind, len(rows), seed)
    with warnings.catch_warnings():  # a fixed number of epochs is the budget, by design
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == AUTOENCODER:
            mapped = pipeline[:-1].fit_transform(rows)
            pipeline[-1].fit(mapped, mapped)
        else:
            pipeline.fit(rows)
    member = DetectorMember(key, kind, pipeline, ScoreNormaliser.fit(np.zeros(1)), len(filled))
    member.normaliser = ScoreNormaliser.fit(member.raw_scores(rows))
    return member


def fit_detector(
    kind: str,
    features: np.ndarray,
    clusters: np.ndarray,
    feature_names: list[str],
    *,
    min_cluster_size: int,
    seed: int,
) -> ClusterIsolation:
    """One `kind` detector per cluster with >= `min_cluster_size` training customers, plus the
    global one, on the training customers' `features` (no labels)."""
    if kind not in DETECTOR_KINDS:
        raise ParameterError(f"detector must be one of {DETECTOR_KINDS}, got {kind!r}")
    if len(features) < 2:
        raise ParameterError(f"{kind} needs >= 2 training customers, got {len(features)}")
    fill_values = training_medians(features)
    filled = fill_missing(features, fill_values)
    clusters = np.asarray(clusters, dtype=np.int64)
    model = ClusterIsolation(list(feature_names), fill_values, int(min_cluster_size))
    model.members[GLOBAL_KEY] = _fit_member(kind, GLOBAL_KEY, filled, seed)
    ids, counts = np.unique(clusters, return_counts=True)
    for cluster, count in zip(ids, counts, strict=True):  # one model per cluster
        if cluster != UNASSIGNED_CLUSTER and count >= min_cluster_size:
            key = str(int(cluster))
            model.members[key] = _fit_member(kind, key, filled[clusters == cluster], seed)
    return model


def detector_to_state(member: DetectorMember) -> dict[str, Any]:
    """One detector and its ECDF as skops-safe data."""
    return {
        "key": member.key,
        "kind": member.kind,
        "model": member.model,
        **member.normaliser.to_state(),
        "n_train": int(member.n_train),
    }


def detector_from_state(state: dict[str, Any]) -> DetectorMember:
    """Inverse of `detector_to_state`."""
    return DetectorMember(
        key=str(state["key"]),
        kind=str(state["kind"]),
        model=state["model"],
        normaliser=ScoreNormaliser.from_state(state),
        n_train=int(state["n_train"]),
    )
