"""ntl.clustering: profile shapes, silhouette, k choice, assignment of new customers, peers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from ntl.clustering import (
    SHAPE_NAMES,
    UNASSIGNED,
    assign_clusters,
    best_k,
    choose_k,
    cluster_sizes,
    cluster_summary,
    fit_clusters,
    nearest_centres,
    peer_deviation,
)
from ntl.errors import MeterDataError, ParameterError
from ntl.frame import build_frame
from ntl.preprocess import PreprocessConfig, describe_customers

MONDAY = "2015-01-05"
NO_CLEANING = PreprocessConfig(interpolation_limit_days=0, outlier_sigma=math.inf)


def profile_shapes(matrix: np.ndarray, dates: pd.DatetimeIndex) -> np.ndarray:
    """Profile shapes of a customers x days matrix, computed the chain's one way
    (``describe_customers``), with cleaning off so hand-computed shapes are of the raw readings."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float32))
    frame = build_frame([f"C{i:03d}" for i in range(len(matrix))], matrix, dates[0])
    return describe_customers(frame, NO_CLEANING, n_threads=1).shapes


def archetype_matrix(n_each: int, n_days: int, seed: int = 0, start: str = MONDAY) -> np.ndarray:
    """Three shape archetypes at random levels: weekend-heavy, weekday-heavy, winter-heavy."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_days, freq="D")
    weekend = np.asarray(dates.day_of_week >= 5)
    winter = np.isin(dates.month, [12, 1, 2])
    patterns = [
        np.where(weekend, 2.0, 1.0),
        np.where(weekend, 0.5, 1.0),
        np.where(winter, 2.5, 1.0),
    ]
    rows = []
    for pattern in patterns:  # three archetypes
        level = rng.uniform(1, 20, size=(n_each, 1))
        noise = rng.normal(1.0, 0.05, size=(n_each, n_days))
        rows.append(level * pattern * noise)
    return np.vstack(rows).astype(np.float32)


def test_shape_of_a_weekly_pattern():
    dates = pd.date_range(MONDAY, periods=21, freq="D")  # three weeks of January
    series = np.where(dates.day_of_week >= 5, 2.0, 1.0)[None, :]
    shapes = profile_shapes(series, dates)
    assert shapes.shape == (1, len(SHAPE_NAMES))
    np.testing.assert_allclose(shapes[0, :7], np.array([1, 1, 1, 1, 1, 2, 2]) / (9 / 7))
    assert shapes[0, 7] == pytest.approx(1.0)  # January, the only month seen
    assert np.isnan(shapes[0, 8:]).all()  # months without readings


def test_shape_ignores_level_and_calendar_position():
    dates = pd.date_range(MONDAY, periods=70, freq="D")
    later = pd.date_range("2016-03-07", periods=70, freq="D")  # another Monday, other months
    series = np.where(dates.day_of_week >= 5, 3.0, 1.0)[None, :]
    small, big = profile_shapes(series, dates), profile_shapes(10 * series, dates)
    np.testing.assert_allclose(small, big)
    np.testing.assert_allclose(profile_shapes(series, later)[0, :7], small[0, :7])


def test_annual_shape():
    dates = pd.date_range("2015-01-01", periods=365, freq="D")
    series = np.where(dates.month == 7, 4.0, 1.0)[None, :]
    shapes = profile_shapes(series, dates)
    expected = np.ones(12)
    expected[6] = 4.0
    np.testing.assert_allclose(shapes[0, 7:], expected / (15 / 12))


def test_no_shape_without_positive_consumption():
    dates = pd.date_range(MONDAY, periods=21, freq="D")
    matrix = np.vstack([np.zeros(21), np.full(21, np.nan), np.ones(21)])
    shapes = profile_shapes(matrix, dates)
    assert np.isnan(shapes[:2]).all()
    assert not np.isnan(shapes[2, :7]).any()


def test_choose_k_scores_are_sklearns_silhouettes_of_its_kmeans():
    rng = np.random.default_rng(6)
    points = rng.normal(size=(50, 2))
    scores = choose_k(points, (2, 4), seed=3, silhouette_sample_size=100)
    for k, score in scores.items():
        labels = KMeans(n_clusters=k, n_init=3, random_state=3).fit(points).labels_
        assert score == pytest.approx(silhouette_score(points, labels), rel=1e-9)


def test_choose_k_finds_three_blobs():
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    points = np.vstack([rng.normal(centre, 0.5, size=(40, 2)) for centre in centres])
    scores = choose_k(points, (2, 6), seed=1, silhouette_sample_size=80)
    assert set(scores) == {2, 3, 4, 5, 6}
    assert best_k(scores) == 3


def test_best_k_ties_and_empty():
    assert best_k({2: 0.5, 3: 0.5, 4: 0.1}) == 2
    assert best_k({}) == 1


def test_fit_recovers_archetypes_and_assigns_new_customers():
    dates = pd.date_range(MONDAY, periods=400, freq="D")
    shapes = profile_shapes(archetype_matrix(30, 400), dates)
    model = fit_clusters(shapes, seed=3, k_range=(2, 6))
    assert model.n_clusters == 3
    labels = assign_clusters(model, shapes)
    truth = np.repeat([0, 1, 2], 30)
    assert len(set(zip(labels, truth, strict=True))) == 3  # a one-to-one match
    assert model.typical_shapes.shape == (3, len(SHAPE_NAMES))
    assert set(model.silhouette_by_k) == {2, 3, 4, 5, 6}
    new = profile_shapes(archetype_matrix(5, 400, seed=9), dates)
    new_labels = assign_clusters(model, new)
    mapping = dict(zip(truth, labels, strict=True))
    np.testing.assert_array_equal(new_labels, np.repeat([mapping[0], mapping[1], mapping[2]], 5))


def test_fit_is_deterministic_and_k_can_be_fixed():
    dates = pd.date_range(MONDAY, periods=200, freq="D")
    shapes = profile_shapes(archetype_matrix(20, 200), dates)
    first = fit_clusters(shapes, seed=7, n_clusters=4, sample_size=50)
    second = fit_clusters(shapes, seed=7, n_clusters=4, sample_size=50)
    assert first.n_clusters == 4
    np.testing.assert_array_equal(assign_clusters(first, shapes), assign_clusters(second, shapes))
    np.testing.assert_array_equal(first.typical_shapes, second.typical_shapes)


def test_fit_with_few_customers():
    dates = pd.date_range(MONDAY, periods=28, freq="D")
    shapes = profile_shapes(archetype_matrix(1, 28), dates)[:2]
    model = fit_clusters(shapes, seed=0)
    assert model.n_clusters == 1  # two customers cannot be scored by silhouette
    np.testing.assert_array_equal(assign_clusters(model, shapes), [0, 0])
    assert fit_clusters(shapes, seed=0, n_clusters=5).n_clusters == 2  # capped at distinct shapes


def test_unassignable_customers_get_minus_one():
    dates = pd.date_range(MONDAY, periods=60, freq="D")
    shapes = profile_shapes(archetype_matrix(10, 60), dates)
    model = fit_clusters(shapes, seed=0, n_clusters=2)
    blank = profile_shapes(np.vstack([np.full(60, np.nan), np.zeros(60)]), dates)
    np.testing.assert_array_equal(assign_clusters(model, blank), [UNASSIGNED, UNASSIGNED])


def test_fit_errors():
    with pytest.raises(MeterDataError, match="no customer has a positive reading"):
        fit_clusters(np.full((3, len(SHAPE_NAMES)), np.nan), seed=0)
    with pytest.raises(ParameterError, match="n_clusters"):
        fit_clusters(np.ones((3, len(SHAPE_NAMES))), seed=0, n_clusters=0)


def test_peer_deviation():
    typical = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, np.nan]])
    shapes = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 0.5, 9.0], [np.nan, 1.0, 1.0]])
    labels = np.array([0, 1, 1, UNASSIGNED])
    deviation = peer_deviation(shapes, labels, typical)
    assert deviation[0] == 0.0
    assert deviation[1] == pytest.approx(1.0)  # differences 1 and 1; the NaN month is skipped
    assert deviation[2] == pytest.approx(np.sqrt(0.25 / 2))
    assert np.isnan(deviation[3])


def test_cluster_sizes():
    sizes = cluster_sizes(np.array([0, 0, 2, -1]), 3)
    assert sizes.to_dict() == {-1: 1, 0: 2, 1: 0, 2: 1}


def test_cluster_summary():
    preprocessed = pd.DataFrame(
        {
            "FLAG": pd.array([1, 0, 0, None, 1, None], dtype="Int8"),
            "quality_flag": ["HIGH", "LOW", "HIGH", "HIGH", "LOW", "LOW"],
            "cluster": [0, 0, 0, 1, 1, -1],
        }
    )
    summary = cluster_summary(preprocessed)
    assert list(summary.index) == [-1, 0, 1]
    assert summary.loc[0, "customers"] == 3 and summary.loc[0, "share"] == pytest.approx(0.5)
    assert summary.loc[0, "low_quality_share"] == pytest.approx(1 / 3)
    assert summary.loc[0, "theft_rate"] == pytest.approx(1 / 3)
    assert summary.loc[1, "labeled"] == 1 and summary.loc[1, "theft_rate"] == 1.0
    assert np.isnan(summary.loc[-1, "theft_rate"])  # nobody labeled there


def test_nearest_centres_equal_scikit_learns_predict(monkeypatch):
    import ntl.clustering as clustering

    rng = np.random.default_rng(8)
    shapes = np.abs(rng.normal(1.0, 0.4, size=(600, len(SHAPE_NAMES))))
    model = fit_clusters(shapes, seed=2, k_range=(3, 5))
    new = np.abs(rng.normal(1.0, 0.6, size=(250, len(SHAPE_NAMES))))
    new[:, 3] *= 4  # far from every centre on one axis
    expected = model.kmeans.predict(model.scaler.transform(new))
    assert len(set(expected)) == model.n_clusters  # every cluster is someone's nearest
    monkeypatch.setattr(clustering, "ASSIGN_ROWS", 64)  # the rows go in 4 blocks, one partial
    np.testing.assert_array_equal(nearest_centres(model, new), expected)
    np.testing.assert_array_equal(nearest_centres(model, new[:1]), expected[:1])
    assert nearest_centres(model, new[:0]).shape == (0,)
