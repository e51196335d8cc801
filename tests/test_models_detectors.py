"""The One-Class SVM and autoencoder detectors per cluster (ntl.models.detectors)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ntl import persist
from ntl.artifacts import ArtifactStore
from ntl.errors import ParameterError
from ntl.models.detectors import (
    AUTOENCODER,
    DETECTOR_KINDS,
    DETECTOR_SAMPLE,
    ONE_CLASS_SVM,
    detector_from_state,
    detector_to_state,
    fit_detector,
)
from ntl.models.isolation import fill_missing

NAMES = [f"feature_{j}" for j in range(12)]


def _customers(n: int = 1500, seed: int = 0):
    """Two clusters with their own centres; the first 30 customers sit 6 SD off in 3 features."""
    rng = np.random.default_rng(seed)
    clusters = rng.choice([0, 1, -1], size=n, p=[0.55, 0.4, 0.05])
    centres = np.array([np.zeros(12), np.full(12, 3.0), np.full(12, -3.0)])
    features = (centres[clusters + 1] + rng.normal(size=(n, 12))).astype(np.float32)
    features[:30, :3] += 6.0
    features[rng.random(features.shape) < 0.02] = np.nan
    unusual = np.zeros(n, dtype=int)
    unusual[:30] = 1
    return features, clusters, unusual


@pytest.mark.parametrize("kind", DETECTOR_KINDS)
def test_each_detector_ranks_the_unusual_customers_first(kind):
    features, clusters, unusual = _customers()
    model = fit_detector(kind, features, clusters, NAMES, min_cluster_size=200, seed=3)
    assert model.cluster_keys == ["0", "1", "global"]
    scores = model.score(features, clusters)
    assert ((scores >= 0) & (scores <= 1)).all()
    # independent features leave the autoencoder's bottleneck little to learn, so everyone is
    # rebuilt somewhat badly; the customers 6 SD off are still rebuilt worst
    assert roc_auc_score(unusual, scores) > (0.9 if kind == ONE_CLASS_SVM else 0.75)
    # the ECDF normalisation: training customers spread evenly over [0, 1] in each member
    member = model.members["0"]
    assert member.kind == kind and member.n_train == int((clusters == 0).sum())
    own = member.score(fill_missing(features[clusters == 0], model.fill_values))
    assert np.median(own) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("kind", DETECTOR_KINDS)
def test_same_seed_same_scores_and_a_skops_round_trip(tmp_path, kind):
    features, clusters, _ = _customers(600)
    first = fit_detector(kind, features, clusters, NAMES, min_cluster_size=200, seed=5)
    second = fit_detector(kind, features, clusters, NAMES, min_cluster_size=200, seed=5)
    np.testing.assert_array_equal(first.score(features, clusters), second.score(features, clusters))
    store = ArtifactStore(tmp_path, notebook="03_modeling")
    member = first.members["global"]
    persist.write_sklearn(store, "model_x.skops", detector_to_state(member))
    again = detector_from_state(persist.read_sklearn(ArtifactStore(tmp_path), "model_x.skops"))
    filled = np.nan_to_num(features, nan=0.0)
    np.testing.assert_array_equal(again.score(filled), member.score(filled))


def test_large_clusters_are_fitted_on_a_bounded_sample():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(DETECTOR_SAMPLE + 500, 4)).astype(np.float32)
    model = fit_detector(
        ONE_CLASS_SVM, features, np.zeros(len(features), int), NAMES[:4], min_cluster_size=10,
        seed=0,
    )  # fmt: skip
    quantiles = model.members["0"].model.named_steps["quantiles"]
    assert quantiles.n_quantiles_ == 200 and model.members["0"].n_train == len(features)
    assert len(model.members["0"].normaliser.reference) <= DETECTOR_SAMPLE


def test_the_autoencoder_finds_a_customer_off_the_learned_relation():
    """Features 0 and 1 always move together; a customer where they disagree is rebuilt badly."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(1200, 1))
    features = np.hstack([base, base, rng.normal(size=(1200, 2))]).astype(np.float32)
    features[:20, 1] = -features[:20, 0]  # the relation broken, each value still typical alone
    model = fit_detector(
        AUTOENCODER, features, np.zeros(1200, int), NAMES[:4], min_cluster_size=10, seed=0
    )
    scores = model.score(features, np.zeros(1200, int))
    unusual = np.r_[np.ones(20), np.zeros(1180)]
    assert roc_auc_score(unusual, scores) > 0.8


def test_bad_inputs_are_named():
    with pytest.raises(ParameterError, match="detector must be one of"):
        fit_detector("svm", np.ones((5, 2)), np.zeros(5), NAMES[:2], min_cluster_size=2, seed=0)
    with pytest.raises(ParameterError, match=">= 2 training customers"):
        fit_detector(
            AUTOENCODER, np.ones((1, 2)), np.zeros(1), NAMES[:2], min_cluster_size=2, seed=0
        )
